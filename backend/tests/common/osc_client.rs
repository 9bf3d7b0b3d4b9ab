//! A blocking OSC client over UDP for the tests, one socket each.

use std::net::UdpSocket;
use std::time::Duration;

use patchbay::osc::codec::{self, Arg, Message, Packet};

pub(crate) struct Client {
    pub socket: UdpSocket,
    pub server: std::net::SocketAddr,
}

impl Client {
    pub(crate) fn new(port: u16) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Client { socket, server: ([127, 0, 0, 1], port).into() }
    }

    pub(crate) fn send(&self, addr: &str, args: Vec<Arg>) {
        self.send_bytes(&codec::encode_message(&Message::new(addr, args)));
    }

    pub(crate) fn send_bytes(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).unwrap();
    }

    pub(crate) fn recv(&self) -> Message {
        let mut buf = vec![0u8; 65536];
        let (n, _) = self.socket.recv_from(&mut buf).expect("a reply");
        match codec::decode(&buf[..n]).unwrap() {
            Packet::Message(m) => m,
            p => panic!("not a message: {p:?}"),
        }
    }

    /// Sends and returns the one reply.
    pub(crate) fn ask(&self, addr: &str, args: Vec<Arg>) -> Vec<Arg> {
        self.send(addr, args);
        let r = self.recv();
        assert_eq!(r.addr, addr, "the reply address equals the input address");
        r.args
    }
}

pub(crate) fn s(x: &str) -> Arg {
    Arg::Str(x.into())
}

/// Runs blocking client code off the runtime the server lives on.
pub(crate) async fn client<T: Send + 'static>(port: u16, f: impl FnOnce(Client) -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(move || f(Client::new(port))).await.unwrap()
}

/// A server in this process with no audio: its data directory, the server and its OSC port.
pub(crate) async fn server() -> (tempfile::TempDir, patchbay::server::Running, u16) {
    let dir = tempfile::tempdir().unwrap();
    let running = super::start_in_process(dir.path(), &["--no-audio"]).await;
    let port = running.osc_port;
    (dir, running, port)
}
