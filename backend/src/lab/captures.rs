//! Packet captures of a PC's traffic, to pcap files in its project.

use patchbay_shared::{action, CaptureStart};
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
        let path = path.display().to_string();
        {
            let mut state = self.state();
            let runtime = state.project_mut(project)?.vm_mut(vm)?.running.as_mut();
            let runtime = runtime.ok_or_else(|| LabError::Conflict("The VM stopped".into()))?;
            runtime.send(Command::StartCapture(file));
            runtime.capture_path = Some(path.clone());
        }
        self.announce(action::VM_UPDATED, &self.vm_json(project, vm)?);
        Ok(path)
    }

    pub async fn stop_capture(&self, project: Uuid, vm: Uuid, adapter: u32, port: u32) -> Result<()> {
        check_adapter_port(adapter, port)?;
        let _serial = self.lock_vm(vm).await;
        let (done, written) = tokio::sync::oneshot::channel();
        let was_capturing = {
            let mut state = self.state();
            match &mut state.project_mut(project)?.vm_mut(vm)?.running {
                Some(runtime) => {
                    runtime.send(Command::StopCapture(done));
                    runtime.capture_path.take().is_some()
                }
                None => false,
            }
        };
        // Once this returns, the file holds every frame captured.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), written).await;
        if was_capturing {
            self.announce(action::VM_UPDATED, &self.vm_json(project, vm)?);
        }
        Ok(())
    }
}

impl Lab {
    /// The capture file at `location`, for `GET /v1/files/stream`: only a
    /// `.pcap` file in a project's `project-files/captures/`, whatever path
    /// the client sends (symbolic links and `..` resolved first), so that
    /// this route never reads anything else of the server's disk.
    pub fn capture_file(&self, location: &str) -> Result<std::path::PathBuf> {
        if !location.ends_with(".pcap") {
            return Err(LabError::Conflict("Only .pcap file are allowed".into()));
        }
        let real = std::fs::canonicalize(location).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LabError::NotFound(format!("File {location} doesn't exist")),
            _ => LabError::Conflict(format!("Can't access to file {location}: {e}")),
        })?;
        let root = std::fs::canonicalize(self.store.root())
            .map_err(|e| LabError::Conflict(format!("Can't access to file {location}: {e}")))?;
        let in_captures = real.strip_prefix(&root).ok().is_some_and(|rest| {
            let parts: Vec<_> = rest.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            matches!(parts.as_slice(), [_, files, captures, _] if files == "project-files" && captures == "captures")
        });
        if !in_captures || !real.is_file() {
            return Err(LabError::Conflict(format!(
                "Can't access to file {location}: only captures of this server's projects can be streamed"
            )));
        }
        Ok(real)
    }
}
