//! PCs and switches as the server would describe them, for the tests of the
//! modules that read them.

use uuid::Uuid;

use crate::api::{Nio, Switch, SwitchPort, Vm, VmStatus};

/// A stopped PC of `project`, with a tunnel or none.
pub(crate) fn pc(project: Uuid, name: &str, nio: Option<Nio>) -> Vm {
    Vm {
        vm_id: Uuid::new_v4(),
        project_id: project,
        name: name.into(),
        console: 2000,
        status: VmStatus::Stopped,
        startup_script: None,
        startup_script_path: None,
        command_line: String::new(),
        vm_directory: String::new(),
        nio,
        mac_address: "00:50:79:66:68:00".into(),
        ip_address: None,
        capture_file_path: None,
        x: 0,
        y: 0,
    }
}

/// A stopped switch of `project` with one port per entry of `nios`.
pub(crate) fn switch(project: Uuid, name: &str, nios: Vec<Option<Nio>>) -> Switch {
    let ports =
        nios.into_iter().enumerate().map(|(i, nio)| SwitchPort { port_number: i as u32, nio }).collect();
    Switch {
        vm_id: Uuid::new_v4(),
        project_id: project,
        name: name.into(),
        node_type: "ethernet_switch".into(),
        status: VmStatus::Stopped,
        ports,
        x: 0,
        y: 0,
    }
}
