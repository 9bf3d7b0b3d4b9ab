//! The lab canvas in headless Chromium: PC1-SW1-PC2 built by dragging from
//! node to node, a refused link showing why, nodes moved by dragging and
//! still there after a reload (the server keeps `x`, `y`), everything
//! started from the nodes' context menus, two console panes open at once and
//! PC1 pinging PC2 from its pane, a capture shown on the canvas, and the VM
//! table without sideways scrolling at 1280 px.
//!
//! Needs `dist/` built by `trunk build --release` (scripts/test.sh does it).

mod common;

use std::path::PathBuf;

use common::browser::{
    built_dashboard, click, drag, press, wait_for_count, wait_for_text, ChromeDriver, MOUSE_BUTTON_RIGHT,
    WAIT,
};
use fantoccini::{Client, Locator};
use serde_json::Value;

fn node(name: &str) -> String {
    format!(r#"#lab-canvas [data-node="{name}"]"#)
}

/// Picks `item` from the node's context menu.
async fn from_menu(browser: &Client, name: &str, item: &str) {
    press(browser, &format!("{} .body", node(name)), MOUSE_BUTTON_RIGHT).await;
    click(browser, &format!(r#".context-menu[data-menu="{name}"] button.{item}"#)).await;
}

/// Types a line into a console pane.
async fn type_in(browser: &Client, pc: &str, line: &str) {
    let css = format!(r#"[data-console="{pc}"] .console-input"#);
    let input = browser.wait().at_most(WAIT).for_element(Locator::Css(&css)).await.unwrap();
    input.send_keys(line).await.unwrap();
    input.send_keys(&fantoccini::key::Key::Enter.to_string()).await.unwrap();
}

async fn get(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn build_pc1_sw1_pc2_by_dragging_and_ping_across_from_a_console_pane() {
    let dist = built_dashboard();
    assert!(dist.join("index.html").exists(), "dist/ is not built: run `trunk build --release`");
    let dir = tempfile::tempdir().unwrap();
    let server =
        common::Binary::start(dir.path(), &[&format!("--dashboard={}", dist.display()), "--no-audio"]);
    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    browser.set_window_size(1280, 900).await.unwrap();
    browser.goto(&server.url("/")).await.unwrap();
    wait_for_text(&browser, ".status", |t| t == "live").await;

    let input = browser.wait().at_most(WAIT).for_element(Locator::Id("new-project-name")).await.unwrap();
    input.send_keys("Canvas lab").await.unwrap();
    click(&browser, "#create-project").await;
    wait_for_text(&browser, "#project-list .project .name", |t| t.contains("Canvas lab")).await;
    for pc in ["PC1", "PC2"] {
        let name = browser.wait().at_most(WAIT).for_element(Locator::Id("new-vm-name")).await.unwrap();
        name.send_keys(pc).await.unwrap();
        click(&browser, "#create-vm").await;
        wait_for_count(&browser, &node(pc), 1).await;
    }
    click(&browser, "#create-switch").await;
    wait_for_count(&browser, &node("SW1"), 1).await;
    let projects = get(server.url("/v1/projects")).await;
    let base = server.url(&format!("/v1/projects/{}", projects[0]["project_id"].as_str().unwrap()));

    // Spread them out by dragging: PC1 left, PC2 right, SW1 in the middle.
    for (name, dx) in [("PC1", -200.0), ("PC2", 200.0)] {
        let body = format!("{} .body", node(name));
        drag(&browser, &body, &format!("{} .body", node("SW1")), (dx, 60.0)).await;
    }
    let placed = |list: &Value, name: &str| -> (i64, i64) {
        let n = list.as_array().unwrap().iter().find(|n| n["name"] == name).unwrap();
        (n["x"].as_i64().unwrap(), n["y"].as_i64().unwrap())
    };
    let deadline = std::time::Instant::now() + WAIT;
    let (pc1_at, pc2_at) = loop {
        let vms = get(format!("{base}/vpcs/vms")).await;
        let (a, b) = (placed(&vms, "PC1"), placed(&vms, "PC2"));
        if a != (0, 0) && b != (0, 0) {
            break (a, b);
        }
        assert!(std::time::Instant::now() < deadline, "the moves never reached the server: {vms}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(pc2_at.0 - pc1_at.0 > 300, "PC1 at {pc1_at:?}, PC2 at {pc2_at:?}");

    // Link by dragging from a node's handle to another node.
    for pc in ["PC1", "PC2"] {
        drag(&browser, &format!("{} .link-handle", node(pc)), &format!("{} .body", node("SW1")), (0.0, 0.0))
            .await;
        wait_for_count(&browser, &format!(r#"#lab-canvas .link[data-link="{pc}:SW1"]"#), 1).await;
    }
    // PC1's one adapter is taken: a link to PC2 is refused, with the reason.
    drag(&browser, &format!("{} .link-handle", node("PC1")), &format!("{} .body", node("PC2")), (0.0, 0.0))
        .await;
    wait_for_text(&browser, "#error", |t| t.contains("PC1 is linked already")).await;
    click(&browser, "#error").await;
    assert_eq!(browser.find_all(Locator::Css("#lab-canvas line.link")).await.unwrap().len(), 2);
    // The server agrees: each PC's tunnel faces a port of the switch.
    let (vms, switches) = (get(format!("{base}/vpcs/vms")).await, get(format!("{base}/switches/vms")).await);
    for (i, vm) in vms.as_array().unwrap().iter().enumerate() {
        let (pc, port) = (&vm["nio"], &switches[0]["ports"][i]["nio"]);
        assert_eq!((&pc["lport"], &pc["rport"]), (&port["rport"], &port["lport"]), "{vms}\n{switches}");
    }

    // Start everything from the context menus; the canvas shows it.
    for name in ["SW1", "PC1", "PC2"] {
        from_menu(&browser, name, "toggle").await;
        wait_for_count(&browser, &format!(r#"#lab-canvas .node.started[data-node="{name}"]"#), 1).await;
    }
    // Two consoles at once, each in its pane.
    for pc in ["PC1", "PC2"] {
        from_menu(&browser, pc, "console").await;
        wait_for_text(&browser, &format!(r#"[data-console="{pc}"] .console-output"#), |t| {
            t.contains(&format!("{pc}> "))
        })
        .await;
    }
    type_in(&browser, "PC2", "ip 10.0.0.2/24").await;
    wait_for_text(&browser, r#"[data-console="PC2"] .console-output"#, |t| {
        // Real VPCS names the instance here, not the pcname: each PC is VPCS's PC1.
        t.contains("ip 10.0.0.2/24\nChecking for duplicate address...\nPC1 : 10.0.0.2 255.255.255.0")
    })
    .await;
    // A capture on PC1 shows on its node and its link.
    from_menu(&browser, "PC1", "capture").await;
    wait_for_count(&browser, r#"#lab-canvas .link.capturing[data-link="PC1:SW1"]"#, 1).await;
    let vms = get(format!("{base}/vpcs/vms")).await;
    let pcap = PathBuf::from(vms[0]["capture_file_path"].as_str().expect("PC1 captures"));
    assert!(pcap.ends_with("project-files/captures/PC1.pcap"), "{}", pcap.display());
    type_in(&browser, "PC1", "ip 10.0.0.1/24").await;
    type_in(&browser, "PC1", "ping 10.0.0.2 -c 2").await;
    wait_for_text(&browser, r#"[data-console="PC1"] .console-output"#, |t| {
        t.contains("84 bytes from 10.0.0.2 icmp_seq=2")
    })
    .await;
    // PC2's pane kept its own lines.
    let pc2 = browser.find(Locator::Css(r#"[data-console="PC2"] .console-output"#)).await.unwrap();
    assert!(!pc2.text().await.unwrap().contains("icmp_seq"), "PC2's pane shows PC1's ping");
    from_menu(&browser, "PC1", "capture").await;
    wait_for_count(&browser, "#lab-canvas .link.capturing", 0).await;
    let size = std::fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0);
    assert!(size > 24 + 4 * 16, "{} holds no packets ({size} bytes)", pcap.display());

    // The VM table fits at 1280 px, no sideways scrolling.
    let widths = browser
        .execute(
            "const t = document.querySelector('.table-scroll'); return [t.scrollWidth, t.clientWidth]",
            vec![],
        )
        .await
        .unwrap();
    assert!(widths[0].as_f64() <= widths[1].as_f64(), "the table scrolls sideways: {widths}");

    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lab-canvas.png");
    std::fs::write(&out, browser.screenshot().await.unwrap()).unwrap();

    // After a reload the nodes are where they were put.
    let before = browser.find(Locator::Css(&node("PC1"))).await.unwrap().attr("transform").await.unwrap();
    browser.refresh().await.unwrap();
    wait_for_text(&browser, ".status", |t| t == "live").await;
    click(&browser, "#project-list .project").await;
    wait_for_count(&browser, &node("PC1"), 1).await;
    let after = browser.find(Locator::Css(&node("PC1"))).await.unwrap().attr("transform").await.unwrap();
    assert_eq!(before, after);
    assert_eq!(before.as_deref(), Some(format!("translate({}, {})", pc1_at.0, pc1_at.1).as_str()));

    // Deleting a node from its menu takes its link with it.
    from_menu(&browser, "PC2", "danger").await;
    wait_for_count(&browser, &node("PC2"), 0).await;
    wait_for_count(&browser, "#lab-canvas line.link", 1).await;
}
