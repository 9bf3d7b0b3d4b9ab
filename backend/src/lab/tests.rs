//! The lab's own tests: persistence across restarts, ports given back.

use std::time::Duration;

use patchbay_shared::{Nio, ProjectCreate, SwitchCreate, VmCreate, VmStatus};

use super::*;

/// A lab on port ranges of its own: tests run in parallel, and one that
/// restarts a VM needs its saved ports to be free.
async fn lab(dir: &std::path::Path) -> Lab {
    // Two opens of the same directory share a range, so the VM gets its old ports back.
    static SLOTS: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
    let slot = {
        let mut slots = SLOTS.lock().unwrap();
        match slots.iter().position(|d| d == dir) {
            Some(i) => i,
            None => {
                slots.push(dir.to_owned());
                slots.len() - 1
            }
        }
    } as u16;
    assert!(slot < 40, "more lab tests than port ranges");
    let (console, udp) = (42000 + slot * 25, 43000 + slot * 25);
    let config = LabConfig {
        host: [127, 0, 0, 1].into(),
        data_dir: dir.to_owned(),
        console_ports: console..=console + 24,
        udp_ports: udp..=udp + 24,
    };
    Lab::open(config, Hub::new(64, Duration::from_secs(5))).await.unwrap()
}

fn vm(name: &str) -> VmCreate {
    VmCreate { name: name.into(), ..Default::default() }
}

#[tokio::test]
async fn everything_comes_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (pid, a, b, udp);
    {
        let lab = lab(dir.path()).await;
        pid = lab
            .create_project(ProjectCreate { name: Some("net".into()), ..Default::default() })
            .await
            .unwrap()
            .project_id;
        a = lab.create_vm(pid, vm("PC1")).await.unwrap();
        b = lab.create_vm(pid, vm("PC2")).await.unwrap();
        let port = lab.allocate_udp_port(pid).await.unwrap();
        let nio = Nio::udp(port, "127.0.0.1", 43999);
        lab.add_nio(pid, a.vm_id, 0, 0, nio).await.unwrap();
        lab.start_vm(pid, a.vm_id).await.unwrap();
        udp = port;
    }
    // The dropped lab's VM task lets go of its sockets asynchronously (a
    // restarted server is a new process, where this never arises).
    for _ in 0..200 {
        let console_free = std::net::TcpListener::bind(("127.0.0.1", a.console)).is_ok();
        if console_free && std::net::UdpSocket::bind(("127.0.0.1", udp)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let lab = lab(dir.path()).await;
    let vms = lab.list_vms(pid).unwrap();
    assert_eq!(vms.len(), 2);
    assert_eq!(vms[0].name, "PC1");
    assert_eq!(vms[0].status, VmStatus::Started);
    assert!(vms[0].nio.is_some());
    assert_eq!(vms[1].vm_id, b.vm_id);
    assert_eq!(vms[1].status, VmStatus::Stopped);
    // The ports are booked again: new VMs do not get the same console.
    let c = lab.create_vm(pid, vm("PC3")).await.unwrap();
    assert!(![a.console, b.console].contains(&c.console));
}

#[tokio::test]
async fn closing_frees_ports_and_reopening_restores() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let pid = lab.create_project(ProjectCreate::default()).await.unwrap().project_id;
    let a = lab.create_vm(pid, vm("PC1")).await.unwrap();
    lab.close_project(pid).await.unwrap();
    assert!(matches!(lab.get_project(pid), Err(LabError::ProjectNotFound(_))));
    let reopened = ProjectCreate { project_id: Some(pid), ..Default::default() };
    lab.create_project(reopened).await.unwrap();
    assert_eq!(lab.list_vms(pid).unwrap()[0].console, a.console);
}

#[tokio::test]
async fn tunnel_ports_are_released_when_no_longer_used() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let pid = lab.create_project(ProjectCreate::default()).await.unwrap().project_id;
    let a = lab.create_vm(pid, vm("PC1")).await.unwrap();
    let port = lab.allocate_udp_port(pid).await.unwrap();
    let nio = Nio::udp(port, "localhost", 9);
    lab.add_nio(pid, a.vm_id, 0, 0, nio.clone()).await.unwrap();
    assert_ne!(lab.allocate_udp_port(pid).await.unwrap(), port);
    lab.remove_nio(pid, a.vm_id, 0, 0).await.unwrap();
    assert_eq!(lab.allocate_udp_port(pid).await.unwrap(), port);
}

#[tokio::test]
async fn a_switch_shares_the_lifecycle_and_gives_its_ports_back() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let mut events = lab.hub().subscribe(None);
    let pid = lab.create_project(ProjectCreate::default()).await.unwrap().project_id;
    let create = SwitchCreate { name: "SW1".into(), ports: Some(2), vm_id: None };
    let sw = lab.create_switch(pid, create).await.unwrap().vm_id;
    let port = lab.allocate_udp_port(pid).await.unwrap();
    lab.add_switch_nio(pid, sw, 0, 1, Nio::udp(port, "127.0.0.1", 9)).await.unwrap();
    lab.start_switch(pid, sw).await.unwrap();
    lab.start_switch(pid, sw).await.unwrap(); // already started: no error, no notification
    assert_eq!(lab.get_switch(pid, sw).await.unwrap().status, VmStatus::Started);
    lab.delete_switch(pid, sw).await.unwrap();
    assert!(matches!(lab.get_switch(pid, sw).await, Err(LabError::VmNotFound(_))));
    assert_eq!(lab.allocate_udp_port(pid).await.unwrap(), port, "the deleted switch's tunnel port is free");
    let mut seen = vec![];
    while let Ok(Some(text)) = tokio::time::timeout(Duration::from_millis(100), events.next()).await {
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        seen.push(json["action"].as_str().unwrap().to_owned());
    }
    let lifecycle: Vec<&str> = seen.iter().map(String::as_str).filter(|a| a.starts_with("vm.")).collect();
    assert_eq!(lifecycle, ["vm.created", "vm.updated", "vm.started", "vm.stopped", "vm.deleted"]);
}
