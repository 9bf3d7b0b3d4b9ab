//! The built-in Ethernet switch: a learning bridge between UDP tunnels.
//!
//! [`Bridge`] is the I/O-free core (learn, forward, flood); [`RunningSwitch`] runs
//! its ports on the lab's thread, where the PCs are, so a frame through a
//! switch is delivered by its sender as between two PCs: the switch
//! forwards it inside the sender's send, and the PC behind it answers
//! inside the switch's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use patchbay_shared::Nio;
use tokio::task::JoinSet;

use super::network_thread;
use super::tunnel::{self, Endpoint, Wake};

const AGING: Duration = Duration::from_secs(300);
/// A flood of random source MACs must not grow memory without bound.
const MAX_ENTRIES: usize = 8192;
/// Datagrams a port takes per wake-up, so a flood on one port cannot starve the others.
const BATCH: usize = 64;

/// Where a frame goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Forward {
    Port(usize),
    /// Every connected port but the one it came in on.
    Flood,
    Drop,
}

#[derive(Default)]
pub(crate) struct Bridge {
    table: HashMap<[u8; 6], (usize, Instant)>,
}

impl Bridge {
    pub(crate) fn forward(&mut self, now: Instant, in_port: usize, frame: &[u8]) -> Forward {
        if frame.len() < 14 {
            return Forward::Drop;
        }
        let dst: [u8; 6] = frame[0..6].try_into().expect("six bytes");
        let src: [u8; 6] = frame[6..12].try_into().expect("six bytes");
        if src[0] & 1 == 0 {
            if self.table.len() >= MAX_ENTRIES && !self.table.contains_key(&src) {
                self.table.retain(|_, (_, seen)| now.duration_since(*seen) < AGING);
            }
            if self.table.len() < MAX_ENTRIES || self.table.contains_key(&src) {
                self.table.insert(src, (in_port, now));
            }
        }
        match self.table.get(&dst) {
            _ if dst[0] & 1 == 1 => Forward::Flood,
            Some((port, seen)) if now.duration_since(*seen) < AGING => {
                if *port == in_port {
                    Forward::Drop
                } else {
                    Forward::Port(*port)
                }
            }
            _ => Forward::Flood,
        }
    }
}

/// A running switch. Dropping it stops every port.
pub(crate) struct RunningSwitch {
    tasks: JoinSet<()>,
}

impl RunningSwitch {
    /// Binds every connected port and starts forwarding.
    pub(crate) async fn start(host: IpAddr, nios: &[Option<Nio>]) -> std::io::Result<RunningSwitch> {
        let lab = network_thread::handle();
        let nios = nios.to_vec();
        let ports = lab.spawn(bind_ports(host, nios)).await.map_err(std::io::Error::other)??;
        let bridge = Arc::new(Mutex::new(Bridge::default()));
        let mut tasks = JoinSet::new();
        for (me, port) in ports.iter().enumerate() {
            let Some(port) = port else { continue };
            let (to_ports, to_bridge) = (Arc::downgrade(&ports), Arc::downgrade(&bridge));
            port.deliver_with(Box::new(move || {
                let (Some(ports), Some(bridge)) = (to_ports.upgrade(), to_bridge.upgrade()) else {
                    return false;
                };
                // Held only while this switch forwards: its task takes the frame next.
                let Ok(mut bridge) = bridge.try_lock() else { return false };
                forward_waiting(me, &ports, &mut bridge, Wake::HandOver, 1);
                true
            }));
            tasks.spawn_on(receive(me, ports.clone(), bridge.clone()), lab);
        }
        Ok(RunningSwitch { tasks })
    }

    /// Stops every port and waits until their sockets are closed.
    pub(crate) async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Runs on the lab's thread, whose reactor the sockets must belong to.
async fn bind_ports(host: IpAddr, nios: Vec<Option<Nio>>) -> std::io::Result<Arc<[Option<Endpoint>]>> {
    let mut ports = Vec::with_capacity(nios.len());
    for nio in nios {
        ports.push(match nio {
            None => None,
            Some(nio) => {
                let peer = tunnel::resolve(&nio.rhost, nio.rport).await?;
                Some(Endpoint::bind(host, nio.lport, Some(peer)).await?)
            }
        });
    }
    Ok(ports.into())
}

/// A port's task: it forwards what its handler could not take at once.
/// The bridge's lock is only ever held on the lab's thread, never across an
/// await, so it is never contended.
async fn receive(me: usize, ports: Arc<[Option<Endpoint>]>, bridge: Arc<Mutex<Bridge>>) {
    let Some(port) = &ports[me] else { return };
    loop {
        let wake = port.wake().await;
        let mut bridge = bridge.lock().unwrap_or_else(|e| e.into_inner());
        forward_waiting(me, &ports, &mut bridge, wake, BATCH);
    }
}

/// Takes up to `most` datagrams waiting on port `me` and forwards each.
fn forward_waiting(me: usize, ports: &[Option<Endpoint>], bridge: &mut Bridge, wake: Wake, most: usize) {
    let Some(port) = &ports[me] else { return };
    tunnel::with_buffer(|buffer| {
        for _ in 0..most {
            let Ok((len, arrived)) = port.receive(buffer, wake) else { return };
            let frame = &buffer[..len];
            match bridge.forward(arrived, me, frame) {
                Forward::Port(out) => {
                    if let Some(p) = &ports[out] {
                        p.send(frame);
                    }
                }
                Forward::Flood => {
                    for (i, p) in ports.iter().enumerate() {
                        if let (Some(p), true) = (p, i != me) {
                            p.send(frame);
                        }
                    }
                }
                Forward::Drop => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(dst: u8, src: u8) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[0..6].copy_from_slice(&[0, 0x50, 0x79, 0x66, 0x68, dst]);
        f[6..12].copy_from_slice(&[0, 0x50, 0x79, 0x66, 0x68, src]);
        f
    }

    #[test]
    fn learns_forwards_and_floods() {
        let mut b = Bridge::default();
        let now = Instant::now();
        assert_eq!(b.forward(now, 0, &frame(2, 1)), Forward::Flood, "unknown destination");
        assert_eq!(b.forward(now, 1, &frame(1, 2)), Forward::Port(0), "learned from the first frame");
        assert_eq!(b.forward(now, 0, &frame(2, 1)), Forward::Port(1));
        let mut broadcast = frame(0, 1);
        broadcast[0..6].copy_from_slice(&[0xff; 6]);
        assert_eq!(b.forward(now, 0, &broadcast), Forward::Flood);
        assert_eq!(b.forward(now, 0, &frame(1, 3)), Forward::Drop, "same port as the destination");
        assert_eq!(b.forward(now + AGING, 1, &frame(1, 2)), Forward::Flood, "aged out");
        assert_eq!(b.forward(now, 0, &[0; 5]), Forward::Drop);
    }

    #[test]
    fn a_mac_flood_is_bounded() {
        let mut b = Bridge::default();
        let now = Instant::now();
        for i in 0..20_000u32 {
            let mut f = frame(1, 0);
            f[8..12].copy_from_slice(&i.to_be_bytes());
            b.forward(now, 0, &f);
        }
        assert!(b.table.len() <= MAX_ENTRIES);
    }

    #[tokio::test]
    async fn a_frame_is_forwarded_inside_its_senders_send() {
        use std::net::{Ipv4Addr, SocketAddr};
        const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let free = || std::net::UdpSocket::bind((LOOPBACK, 0)).unwrap().local_addr().unwrap().port();
        let (pc_a, pc_b, port_a, port_b) = (free(), free(), free(), free());
        let nio = |lport, rport| Some(Nio::udp(lport, "127.0.0.1", rport));
        let switch = RunningSwitch::start(LOOPBACK, &[nio(port_a, pc_a), nio(port_b, pc_b)]).await.unwrap();
        // The PCs' ends, on the lab's thread as a PC's would be.
        let forwarded = network_thread::handle()
            .spawn(async move {
                let at = |port| Some(SocketAddr::new(LOOPBACK, port));
                let a = Endpoint::bind(LOOPBACK, pc_a, at(port_a)).await.unwrap();
                let b = Endpoint::bind(LOOPBACK, pc_b, at(port_b)).await.unwrap();
                a.send(&frame(2, 1));
                // No await in between: the switch has already flooded it to b.
                let mut buffer = [0u8; 64];
                b.receive(&mut buffer, Wake::HandOver).map(|(len, _)| buffer[..len].to_vec())
            })
            .await
            .unwrap();
        assert_eq!(forwarded.unwrap(), frame(2, 1));
        switch.stop().await;
    }
}
