//! The lab driven by OSC alone, as the seed's principle asks ("every
//! patching operation is possible using only OSC"): a project, two PCs and
//! a switch, linked PC1-SW1-PC2, addressed and pinged across from the
//! consoles, captured, unlinked, closed and opened again.

mod common;

use common::osc_client::{client, s};
use patchbay::osc::codec::Arg;

fn id(reply: Vec<Arg>) -> String {
    match reply.as_slice() {
        [Arg::Int(0), Arg::Str(id)] => id.clone(),
        other => panic!("expected 0 and an id, got {other:?}"),
    }
}

fn done(reply: Vec<Arg>) {
    assert_eq!(reply.first(), Some(&Arg::Int(0)), "the call succeeded: {reply:?}");
}

fn text(reply: Vec<Arg>) -> String {
    match reply.as_slice() {
        [Arg::Int(0), Arg::Str(out)] => out.clone(),
        other => panic!("expected 0 and text, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pc1_sw1_pc2_is_built_and_pinged_across_with_osc_alone() {
    let dir = tempfile::tempdir().unwrap();
    let running = common::start_in_process(dir.path(), &["--no-audio"]).await;
    let port = running.osc_port;
    client(port, |c| {
        let p = id(c.ask("/lab/create-project", vec![s("osc-lab")]));
        let project = format!("/lab/projects/{p}");
        let pc1 = id(c.ask(&format!("{project}/create-vm"), vec![s("PC1")]));
        let pc2 = id(c.ask(&format!("{project}/create-vm"), vec![s("PC2")]));
        let sw1 = id(c.ask(&format!("{project}/create-switch"), vec![s("SW1"), Arg::Int(4)]));
        let switch = format!("{project}/switches/{sw1}");
        assert_eq!(c.ask(&format!("{switch}/ports/"), vec![]).first(), Some(&Arg::Int(4)), "4 ports listed");

        // A PC has one port: 0.
        let refused = c.ask(&format!("{project}/link"), vec![s(&pc1), Arg::Int(1), s(&sw1), Arg::Int(0)]);
        assert_eq!(refused.first(), Some(&Arg::Int(-1)), "{refused:?}");
        for (pc, sw_port) in [(&pc1, 0), (&pc2, 1)] {
            let linked =
                c.ask(&format!("{project}/link"), vec![s(pc), Arg::Int(0), s(&sw1), Arg::Int(sw_port)]);
            assert!(matches!(linked.as_slice(), [Arg::Int(0), Arg::Int(_), Arg::Int(_)]), "{linked:?}");
        }
        // Both ends of each link hold facing tunnels.
        let Some(Arg::Int(lport)) =
            c.ask(&format!("{project}/vms/{pc1}/nio/current-value"), vec![]).get(1).cloned()
        else {
            panic!("PC1 has a tunnel")
        };
        let port0 = c.ask(&format!("{switch}/ports/0/current-value"), vec![]);
        assert_eq!(port0.get(3), Some(&Arg::Int(lport)), "switch port 0 sends to PC1's port: {port0:?}");

        done(c.ask(&format!("{switch}/start"), vec![]));
        for pc in [&pc1, &pc2] {
            done(c.ask(&format!("{project}/vms/{pc}/start"), vec![]));
        }
        let status = c.ask(&format!("{switch}/status/current-value"), vec![]);
        assert_eq!(status, vec![Arg::Int(0), s("started")]);

        let console =
            |pc: &str, line: &str| text(c.ask(&format!("{project}/vms/{pc}/console"), vec![s(line)]));
        console(&pc1, "ip 10.0.0.1/24");
        console(&pc2, "ip 10.0.0.2/24");
        let ip = c.ask(&format!("{project}/vms/{pc2}/ip_address/current-value"), vec![]);
        assert_eq!(ip, vec![Arg::Int(0), s("10.0.0.2/24")]);

        let capture = text(c.ask(&format!("{project}/vms/{pc1}/start-capture"), vec![s("pc1.pcap")]));
        assert!(capture.ends_with("project-files/captures/pc1.pcap"), "{capture}");
        let ping = console(&pc2, "ping 10.0.0.1 -c 2");
        assert!(ping.contains("84 bytes from 10.0.0.1 icmp_seq=2"), "PC2 reaches PC1 through SW1:\n{ping}");
        done(c.ask(&format!("{project}/vms/{pc1}/stop-capture"), vec![]));
        let bytes = std::fs::read(&capture).unwrap_or_else(|e| panic!("{capture}: {e}"));
        assert!(bytes.len() > 24 + 2 * 98, "the capture holds the pings: {} bytes", bytes.len());

        // Unlinking at the switch's end removes both tunnels, and the ping fails.
        done(c.ask(&format!("{project}/unlink"), vec![s(&sw1), Arg::Int(0)]));
        assert_eq!(
            c.ask(&format!("{project}/vms/{pc1}/nio/current-value"), vec![]),
            vec![Arg::Int(0), Arg::Nil]
        );
        assert_eq!(c.ask(&format!("{switch}/ports/0/current-value"), vec![]), vec![Arg::Int(0), Arg::Nil]);
        let ping = console(&pc2, "ping 10.0.0.1 -c 1");
        assert!(!ping.contains("84 bytes from"), "no path any more:\n{ping}");

        // Closed, the project leaves the tree; opened again, it is back with its nodes.
        done(c.ask(&format!("{project}/close"), vec![]));
        assert_eq!(c.ask(&format!("{project}/name/current-value"), vec![]).first(), Some(&Arg::Int(-1)));
        assert_eq!(id(c.ask("/lab/open-project", vec![s(&p)])), p);
        let vms = c.ask(&format!("{project}/vms/"), vec![]);
        assert_eq!(vms.first(), Some(&Arg::Int(2)), "both PCs are back: {vms:?}");
        done(c.ask(&format!("{project}/delete"), vec![]));
    })
    .await;
    running.stop().await.unwrap();
}

/// A lab request runs as a task; what the same client sends next waits
/// behind it, so a listing sent right after three creates sees all three,
/// and the replies come in the order of the requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_requests_keep_their_order_when_one_must_wait() {
    let dir = tempfile::tempdir().unwrap();
    let running = common::start_in_process(dir.path(), &["--no-audio"]).await;
    client(running.osc_port, |c| {
        for name in ["one", "two", "three"] {
            c.send("/lab/create-project", vec![s(name)]);
        }
        c.send("/lab/projects/", vec![]);
        c.send("/main_clock/type-signature", vec![]);
        let order: Vec<String> = (0..5).map(|_| c.recv().addr).collect();
        assert_eq!(
            order,
            [
                "/lab/create-project",
                "/lab/create-project",
                "/lab/create-project",
                "/lab/projects/",
                "/main_clock/type-signature"
            ]
        );
        // Asked again now that all is done: the listing then held all three too.
        let listing = c.ask("/lab/projects/", vec![]);
        assert_eq!(listing[0], Arg::Int(3), "{listing:?}");
    })
    .await;
}
