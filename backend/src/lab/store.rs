//! Persistence of projects: one `project.json` per project, written atomically.
//!
//! A write goes to a temporary file that is fsynced and then renamed over the
//! old one, and the directory is fsynced, so `kill -9` or a power cut at any
//! moment leaves either the old or the new file, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use patchbay_shared::Nio;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const PROJECT_FILE: &str = "project.json";
const FORMAT: u32 = 1;

/// What is saved of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectFile {
    pub format: u32,
    pub project_id: Uuid,
    pub name: String,
    pub temporary: bool,
    /// Closed projects stay on disk but are not loaded until opened again.
    pub closed: bool,
    pub vms: Vec<VmRecord>,
    #[serde(default)]
    pub switches: Vec<SwitchRecord>,
}

/// What is saved of a switch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwitchRecord {
    pub vm_id: Uuid,
    pub name: String,
    /// One entry per port: its tunnel, if connected.
    pub ports: Vec<Option<Nio>>,
    pub started: bool,
    /// Where the dashboard draws it.
    #[serde(default)]
    pub at: Place,
}

/// What is saved of a VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VmRecord {
    pub vm_id: Uuid,
    /// Kept so peers' ARP caches stay right across restarts.
    #[serde(default)]
    pub mac_address: Option<String>,
    pub name: String,
    pub console: u16,
    pub startup_script: Option<String>,
    pub nio: Option<Nio>,
    /// Started VMs are started again when the server restarts.
    pub started: bool,
    /// Where the dashboard draws it.
    #[serde(default)]
    pub at: Place,
}

/// Where a node is drawn (GNS3's `x`, `y`); 0, 0 until someone places it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Place {
    pub x: i32,
    pub y: i32,
}

impl Place {
    /// This place with whichever coordinates an update gives.
    pub(crate) fn moved(self, x: Option<i32>, y: Option<i32>) -> Place {
        Place { x: x.unwrap_or(self.x), y: y.unwrap_or(self.y) }
    }
}

impl ProjectFile {
    pub(crate) fn new(
        project_id: Uuid,
        name: String,
        temporary: bool,
        closed: bool,
        vms: Vec<VmRecord>,
    ) -> Self {
        ProjectFile { format: FORMAT, project_id, name, temporary, closed, vms, switches: vec![] }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid project file: {source}")]
    Corrupt { path: PathBuf, source: serde_json::Error },
    #[error("{path} has format {found}, this server reads format {FORMAT}")]
    Format { path: PathBuf, found: u32 },
}

/// The lab's disk work at once, at most. Concurrent fsyncs on one disk
/// finish no sooner, and their kernel work (journal commits, completions)
/// takes the CPU from the threads that keep time: with 100 HTTP clients
/// creating and deleting projects, OSC's p99 latency was 31 ms with no
/// bound, 10 ms at 4 and 1.5 ms at 2 (BENCHMARKS.md, isolation).
const DISK_CONCURRENCY: usize = 2;

/// The projects directory under the data directory.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
    turns: Arc<tokio::sync::Semaphore>,
}

impl Store {
    pub(crate) fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let root = data_dir.join("projects");
        std::fs::create_dir_all(&root).map_err(|source| StoreError::Io { path: root.clone(), source })?;
        Ok(Store { root, turns: Arc::new(tokio::sync::Semaphore::new(DISK_CONCURRENCY)) })
    }

    /// Runs `f` off the runtime's threads, at most `DISK_CONCURRENCY` at a time.
    pub(crate) async fn run<T: Send + 'static>(&self, f: impl FnOnce(&Store) -> T + Send + 'static) -> T {
        let _turn = self.turns.acquire().await.expect("the semaphore is never closed");
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store)).await.expect("disk work does not panic")
    }

    /// The directory every project's directory is in.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn project_dir(&self, id: Uuid) -> PathBuf {
        self.root.join(id.to_string())
    }

    pub(crate) fn save(&self, file: &ProjectFile) -> Result<(), StoreError> {
        let dir = self.project_dir(file.project_id);
        let io = |source| StoreError::Io { path: dir.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let bytes = serde_json::to_vec_pretty(file).expect("project files always serialize");
        write_atomically(&dir.join(PROJECT_FILE), &bytes).map_err(io)
    }

    /// The saved project with this id, if there is one.
    pub(crate) fn load(&self, id: Uuid) -> Result<Option<ProjectFile>, StoreError> {
        let path = self.project_dir(id).join(PROJECT_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => parse(&path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Every saved project, each parsed on its own so one bad file costs only itself.
    pub(crate) fn load_all(&self) -> Vec<Result<ProjectFile, StoreError>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(source) => return vec![Err(StoreError::Io { path: self.root.clone(), source })],
        };
        let mut ids: Vec<Uuid> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| Uuid::parse_str(n).ok()))
            .collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| {
                remove_stale_temporaries(&self.project_dir(id));
                self.load(id).transpose()
            })
            .collect()
    }

    pub(crate) fn remove(&self, id: Uuid) -> Result<(), StoreError> {
        let dir = self.project_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::Io { path: dir, source: e })
            }
            _ => Ok(()),
        }
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<ProjectFile, StoreError> {
    let file: ProjectFile = serde_json::from_slice(bytes)
        .map_err(|source| StoreError::Corrupt { path: path.to_owned(), source })?;
    if file.format != FORMAT {
        return Err(StoreError::Format { path: path.to_owned(), found: file.format });
    }
    Ok(file)
}

/// Temporary file, fsync, rename, fsync of the directory.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    // Unique per write, so concurrent writers never share a temporary file.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Leftovers of writes that a crash interrupted before their rename.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: Uuid) -> ProjectFile {
        ProjectFile::new(
            id,
            "lab".into(),
            false,
            false,
            vec![VmRecord {
                vm_id: Uuid::new_v4(),
                mac_address: Some("00:50:79:66:68:00".into()),
                name: "PC1".into(),
                console: 2000,
                startup_script: Some("ip 10.0.0.1".into()),
                nio: Some(Nio::udp(10000, "127.0.0.1", 10001)),
                started: true,
                at: Place { x: 120, y: -40 },
            }],
        )
    }

    #[test]
    fn saves_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let file = sample(Uuid::new_v4());
        store.save(&file).unwrap();
        assert_eq!(store.load(file.project_id).unwrap(), Some(file.clone()));
        let all: Vec<_> = store.load_all().into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(all, vec![file]);
    }

    #[test]
    fn a_corrupt_file_is_reported_and_others_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let good = sample(Uuid::new_v4());
        store.save(&good).unwrap();
        let bad = Uuid::new_v4();
        std::fs::create_dir_all(store.project_dir(bad)).unwrap();
        std::fs::write(store.project_dir(bad).join(PROJECT_FILE), b"{\"format\": 1, \"proj").unwrap();
        let results = store.load_all();
        assert_eq!(results.len(), 2);
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        let err = results.into_iter().find_map(|r| r.err()).unwrap();
        assert!(err.to_string().contains("not a valid project file"), "{err}");
    }

    #[test]
    fn stale_temporaries_are_swept_and_the_last_rename_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let file = sample(Uuid::new_v4());
        store.save(&file).unwrap();
        let stale = store.project_dir(file.project_id).join(".project.json.999.tmp");
        std::fs::write(&stale, b"half a fi").unwrap();
        assert_eq!(store.load_all().len(), 1);
        assert!(!stale.exists());
    }
}
