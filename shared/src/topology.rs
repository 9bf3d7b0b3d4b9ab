//! A lab's wiring as the API reports it: every tunnel belongs to a PC's
//! adapter or a switch's port, and two tunnels that point at each other's
//! port are one link. The dashboard draws and builds labs with this.

use uuid::Uuid;

use crate::api::{Nio, Switch, Vm};

/// Where a tunnel is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attachment {
    /// A PC's one adapter.
    Pc(Uuid),
    /// A switch and one of its port numbers.
    SwitchPort(Uuid, u32),
}

impl Attachment {
    /// The PC or switch it belongs to.
    pub fn node(self) -> Uuid {
        match self {
            Attachment::Pc(id) | Attachment::SwitchPort(id, _) => id,
        }
    }

    /// The route that adds (POST) or removes (DELETE) its tunnel.
    pub fn nio_path(self, project: Uuid) -> String {
        match self {
            Attachment::Pc(vm) => format!("/v1/projects/{project}/vpcs/vms/{vm}/adapters/0/ports/0/nio"),
            Attachment::SwitchPort(sw, port) => {
                format!("/v1/projects/{project}/switches/vms/{sw}/adapters/0/ports/{port}/nio")
            }
        }
    }
}

/// Every tunnel of a lab, with where it is attached.
pub fn tunnels<'a>(vms: &'a [Vm], switches: &'a [Switch]) -> Vec<(Attachment, &'a Nio)> {
    let pcs = vms.iter().filter_map(|vm| Some((Attachment::Pc(vm.vm_id), vm.nio.as_ref()?)));
    let ports = switches.iter().flat_map(|sw| {
        sw.ports
            .iter()
            .filter_map(|p| Some((Attachment::SwitchPort(sw.vm_id, p.port_number), p.nio.as_ref()?)))
    });
    pcs.chain(ports).collect()
}

/// The links among `tunnels`: pairs of attachments whose tunnels face each
/// other (each one's `rport` is the other's `lport`), each pair once.
pub fn links(tunnels: &[(Attachment, &Nio)]) -> Vec<(Attachment, Attachment)> {
    let mut out = vec![];
    for (i, (a, x)) in tunnels.iter().enumerate() {
        for (b, y) in &tunnels[i + 1..] {
            if x.rport == y.lport && y.rport == x.lport {
                out.push((*a, *b));
            }
        }
    }
    out
}

/// What `at` is linked to, if its tunnel faces another of the lab's.
pub fn peer(links: &[(Attachment, Attachment)], at: Attachment) -> Option<Attachment> {
    links.iter().find_map(|&(a, b)| match at {
        _ if a == at => Some(b),
        _ if b == at => Some(a),
        _ => None,
    })
}

/// Where a new link can end: PCs without a tunnel, and each switch's
/// lowest free port.
pub fn free_attachments(vms: &[Vm], switches: &[Switch]) -> Vec<(Attachment, String)> {
    let pcs = vms.iter().filter(|vm| vm.nio.is_none()).map(|vm| (Attachment::Pc(vm.vm_id), vm.name.clone()));
    let ports = switches.iter().filter_map(|sw| {
        let port = sw.ports.iter().find(|p| p.nio.is_none())?.port_number;
        Some((Attachment::SwitchPort(sw.vm_id, port), format!("{} port {port}", sw.name)))
    });
    pcs.chain(ports).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn pc(name: &str, nio: Option<Nio>) -> Vm {
        fixtures::pc(Uuid::nil(), name, nio)
    }

    fn switch(name: &str, nios: Vec<Option<Nio>>) -> Switch {
        fixtures::switch(Uuid::nil(), name, nios)
    }

    #[test]
    fn facing_tunnels_are_links_and_others_are_not() {
        let vms = vec![
            pc("PC1", Some(Nio::udp(10000, "127.0.0.1", 10001))),
            pc("PC2", Some(Nio::udp(10002, "127.0.0.1", 10003))),
            pc("PC3", Some(Nio::udp(10004, "127.0.0.1", 10999))), // to something outside the lab
            pc("PC4", None),
        ];
        let sw = vec![switch(
            "SW1",
            vec![Some(Nio::udp(10001, "127.0.0.1", 10000)), None, Some(Nio::udp(10003, "127.0.0.1", 10002))],
        )];
        let all = tunnels(&vms, &sw);
        assert_eq!(all.len(), 5);
        let links = links(&all);
        let (pc1, pc2, s) = (Attachment::Pc(vms[0].vm_id), Attachment::Pc(vms[1].vm_id), sw[0].vm_id);
        assert_eq!(links, vec![(pc1, Attachment::SwitchPort(s, 0)), (pc2, Attachment::SwitchPort(s, 2))]);
        assert_eq!(peer(&links, Attachment::SwitchPort(s, 2)), Some(pc2));
        assert_eq!(peer(&links, Attachment::Pc(vms[2].vm_id)), None);
        // Two PCs tunnelled to each other, as in the seed's session.
        let pair = vec![
            pc("A", Some(Nio::udp(20000, "127.0.0.1", 20001))),
            pc("B", Some(Nio::udp(20001, "127.0.0.1", 20000))),
        ];
        let links = super::links(&tunnels(&pair, &[]));
        assert_eq!(links, vec![(Attachment::Pc(pair[0].vm_id), Attachment::Pc(pair[1].vm_id))]);
    }

    #[test]
    fn new_links_end_at_untunnelled_pcs_and_the_lowest_free_port() {
        let vms = vec![pc("PC1", Some(Nio::udp(1, "127.0.0.1", 2))), pc("PC2", None)];
        let sw = vec![
            switch("SW1", vec![Some(Nio::udp(2, "127.0.0.1", 1)), None, None]),
            switch("SW2", vec![Some(Nio::udp(3, "127.0.0.1", 4))]),
        ];
        let free = free_attachments(&vms, &sw);
        assert_eq!(
            free,
            vec![
                (Attachment::Pc(vms[1].vm_id), "PC2".to_owned()),
                (Attachment::SwitchPort(sw[0].vm_id, 1), "SW1 port 1".to_owned()),
            ]
        );
    }

    #[test]
    fn attachments_name_their_nio_routes() {
        let (p, id) = (Uuid::nil(), Uuid::from_u128(1));
        assert_eq!(
            Attachment::Pc(id).nio_path(p),
            format!("/v1/projects/{p}/vpcs/vms/{id}/adapters/0/ports/0/nio")
        );
        assert_eq!(
            Attachment::SwitchPort(id, 3).nio_path(p),
            format!("/v1/projects/{p}/switches/vms/{id}/adapters/0/ports/3/nio")
        );
        assert_eq!(Attachment::SwitchPort(id, 3).node(), id);
    }
}
