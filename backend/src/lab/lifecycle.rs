//! What PCs and switches share: one code path to delete, start and stop a
//! node of a project, whatever runs it.

use std::future::Future;

use patchbay_shared::action;
use uuid::Uuid;

use super::{Lab, LabError, ProjectState, Result, State};

/// A kind of node a project holds: its configuration, and a task while started.
pub(super) trait Node: Sized + Send {
    /// How replies and notifications show it.
    type Json: serde::Serialize + Send;
    /// What runs while it is started.
    type Running: Send;
    /// What starting needs, taken from the configuration under the lab's lock.
    type Spec: Send;

    fn all(project: &ProjectState) -> &Vec<Self>;
    fn all_mut(project: &mut ProjectState) -> &mut Vec<Self>;
    fn id(&self) -> Uuid;
    fn json(&self, lab: &Lab, project: Uuid) -> Self::Json;
    fn running(&mut self) -> &mut Option<Self::Running>;
    /// Gives back what it books: console, MAC, tunnel ports.
    fn release(&self, state: &mut State, project: Uuid);
    fn spec(&self, lab: &Lab) -> Self::Spec;
    fn start(spec: Self::Spec) -> impl Future<Output = Result<Self::Running>> + Send;
    /// Returns once its sockets are closed, so that a restart can bind them again.
    fn stop(running: Self::Running) -> impl Future<Output = ()> + Send;
}

pub(super) fn find<N: Node>(project: &ProjectState, id: Uuid) -> Result<&N> {
    N::all(project).iter().find(|n| n.id() == id).ok_or(LabError::VmNotFound(id))
}

pub(super) fn find_mut<N: Node>(project: &mut ProjectState, id: Uuid) -> Result<&mut N> {
    N::all_mut(project).iter_mut().find(|n| n.id() == id).ok_or(LabError::VmNotFound(id))
}

impl Lab {
    pub(super) fn node_json<N: Node>(&self, project: Uuid, id: Uuid) -> Result<N::Json> {
        Ok(find::<N>(self.state().project(project)?, id)?.json(self, project))
    }

    /// Removes the node, saves, then stops it if it ran and announces both.
    pub(super) async fn delete_node<N: Node>(&self, project: Uuid, id: Uuid) -> Result<()> {
        let _serial = self.lock_vm(id).await;
        let mut removed = {
            let mut state = self.state();
            let nodes = N::all_mut(state.project_mut(project)?);
            let index = nodes.iter().position(|n| n.id() == id).ok_or(LabError::VmNotFound(id))?;
            let removed = nodes.remove(index);
            removed.release(&mut state, project);
            removed
        };
        self.save(project).await?;
        self.forget_lock(id);
        let running = removed.running().take();
        let json = removed.json(self, project);
        if let Some(running) = running {
            N::stop(running).await;
            self.announce(action::VM_STOPPED, &json);
        }
        self.announce(action::VM_DELETED, &json);
        Ok(())
    }

    /// Starts or stops a node, or with `restart` starts a running one anew
    /// (so that changed tunnels take effect). Doing what is already done is
    /// not an error and announces nothing. The caller holds the node's lock.
    pub(super) async fn set_running<N: Node>(
        &self,
        project: Uuid,
        id: Uuid,
        run: bool,
        restart: bool,
    ) -> Result<()> {
        let (old, spec) = {
            let mut state = self.state();
            let node = find_mut::<N>(state.project_mut(project)?, id)?;
            if node.running().is_some() == run && !(run && restart) {
                return Ok(());
            }
            (node.running().take(), node.spec(self))
        };
        let was_running = old.is_some();
        if let Some(old) = old {
            N::stop(old).await;
        }
        let (running, failure) = match run {
            true => match N::start(spec).await {
                Ok(running) => (Some(running), None),
                Err(e) => (None, Some(e)),
            },
            false => (None, None),
        };
        let now_running = running.is_some();
        *find_mut::<N>(self.state().project_mut(project)?, id)?.running() = running;
        if was_running != now_running {
            self.save(project).await?;
            let json = self.node_json::<N>(project, id)?;
            self.announce(if now_running { action::VM_STARTED } else { action::VM_STOPPED }, &json);
        }
        failure.map_or(Ok(()), Err)
    }
}
