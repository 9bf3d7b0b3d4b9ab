//! Links between a lab's PCs and switch ports, as GNS3's client makes them:
//! a tunnel port booked for each end, then at each end a NIO UDP tunnel that
//! points at the other's port. Unlinking removes both tunnels. The dashboard
//! does the same through the HTTP routes; OSC calls these.

use patchbay_shared::topology::{self, Attachment};
use patchbay_shared::Nio;
use uuid::Uuid;

use super::{Lab, LabError, Result};

/// Where both ends of a link send: the tunnels stay on this machine.
const LINK_HOST: &str = "127.0.0.1";

impl Lab {
    /// Links `a` to `b` and returns the tunnel added at each end.
    pub async fn link(&self, project: Uuid, a: Attachment, b: Attachment) -> Result<(Nio, Nio)> {
        if a == b {
            return Err(LabError::Invalid("A link needs two different ends".into()));
        }
        let (pa, pb) = (self.allocate_udp_port(project).await?, self.allocate_udp_port(project).await?);
        let at_a = Nio::udp(pa, LINK_HOST, pb);
        let at_b = Nio::udp(pb, LINK_HOST, pa);
        self.attach(project, a, at_a.clone()).await?;
        if let Err(e) = self.attach(project, b, at_b.clone()).await {
            // Half a link is no link: take the first end back.
            let _ = self.detach(project, a).await;
            return Err(e);
        }
        Ok((at_a, at_b))
    }

    /// Removes the tunnel at `at` and, if it is linked, the one at the other end.
    pub async fn unlink(&self, project: Uuid, at: Attachment) -> Result<()> {
        let peer = self.peer(project, at)?;
        self.detach(project, at).await?;
        if let Some(peer) = peer {
            self.detach(project, peer).await?;
        }
        Ok(())
    }

    /// What `at` is linked to, if its tunnel faces another of the project's.
    pub fn peer(&self, project: Uuid, at: Attachment) -> Result<Option<Attachment>> {
        let (vms, switches) = (self.list_vms(project)?, self.list_switches(project)?);
        Ok(topology::peer(&topology::links(&topology::tunnels(&vms, &switches)), at))
    }

    /// Adds a tunnel at a PC's adapter or a switch's port.
    pub async fn attach(&self, project: Uuid, at: Attachment, nio: Nio) -> Result<Nio> {
        match at {
            Attachment::Pc(vm) => self.add_nio(project, vm, 0, 0, nio).await,
            Attachment::SwitchPort(sw, port) => self.add_switch_nio(project, sw, 0, port, nio).await,
        }
    }

    /// Removes the tunnel at a PC's adapter or a switch's port.
    pub async fn detach(&self, project: Uuid, at: Attachment) -> Result<()> {
        match at {
            Attachment::Pc(vm) => self.remove_nio(project, vm, 0, 0).await,
            Attachment::SwitchPort(sw, port) => self.remove_switch_nio(project, sw, 0, port).await,
        }
    }
}
