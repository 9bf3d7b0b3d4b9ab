//! Packet captures of a PC's traffic, to pcap files in its project.

use patchbay_shared::CaptureStart;
use uuid::Uuid;

use super::validate::check_adapter_port;
use super::vpc::driver::Command;
use super::{Lab, LabError, Result};

impl Lab {
    /// Starts writing the VM's traffic to a pcap file in the project's
    /// `project-files/captures/`; returns the file's path.
    pub async fn start_capture(
        &self,
        project: Uuid,
        vm: Uuid,
        adapter: u32,
        port: u32,
        req: CaptureStart,
    ) -> Result<String> {
        check_adapter_port(adapter, port)?;
        let name = req.capture_file_name;
        let plain = !name.is_empty()
            && name.len() <= 255
            && !name.starts_with('.')
            && !name.contains(['/', '\\', '\0']);
        if !plain {
            return Err(LabError::Invalid("capture_file_name: must be a plain file name".into()));
        }
        if req.data_link_type.as_deref().is_some_and(|t| t != "DLT_EN10MB") {
            return Err(LabError::Invalid("data_link_type: only DLT_EN10MB (Ethernet) is supported".into()));
        }
        let _serial = self.lock_vm(vm).await;
        if self.state().project(project)?.vm(vm)?.running.is_none() {
            return Err(LabError::Conflict("Cannot capture traffic on a stopped VM: start it first".into()));
        }
        let dir = self.store.project_dir(project).join("project-files").join("captures");
        let path = dir.join(&name);
        let file = tokio::task::spawn_blocking({
            let path = path.clone();
            move || std::fs::create_dir_all(&dir).and_then(|()| std::fs::File::create(&path))
        })
        .await
        .expect("creating a file does not panic")
        .map_err(|e| LabError::Conflict(format!("Cannot create {}: {e}", path.display())))?;
        let state = self.state();
        let runtime = state.project(project)?.vm(vm)?.running.as_ref();
        runtime.ok_or_else(|| LabError::Conflict("The VM stopped".into()))?.send(Command::StartCapture(file));
        Ok(path.display().to_string())
    }

    pub async fn stop_capture(&self, project: Uuid, vm: Uuid, adapter: u32, port: u32) -> Result<()> {
        check_adapter_port(adapter, port)?;
        let _serial = self.lock_vm(vm).await;
        let (done, written) = tokio::sync::oneshot::channel();
        {
            let state = self.state();
            if let Some(runtime) = &state.project(project)?.vm(vm)?.running {
                runtime.send(Command::StopCapture(done));
            }
        }
        // Once this returns, the file holds every frame captured.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), written).await;
        Ok(())
    }
}
