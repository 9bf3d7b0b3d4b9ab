//! The dashboard in headless Chromium, driven through Debian's chromedriver:
//! the page loads from the real binary, a project is created through the UI
//! and appears, with its notification; then a VM is created, started,
//! stopped and deleted by clicking.
//!
//! Needs `dist/` built by `trunk build --release` (scripts/test.sh does it).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::browser::{
    add_from_palette, built_dashboard, click, select, text_of, wait_for_count, wait_for_text, ChromeDriver,
    WAIT,
};
use fantoccini::Locator;

#[tokio::test]
async fn create_a_project_and_drive_a_vm_from_the_browser() {
    let dist = built_dashboard();
    assert!(
        dist.join("index.html").exists(),
        "dist/ is not built: run `trunk build --release` (scripts/test.sh does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = common::Binary::start(dir.path(), &[&format!("--dashboard={}", dist.display())]);
    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;

    browser.goto(&server.url("/")).await.unwrap();
    wait_for_text(&browser, ".status", |t| t == "live").await;
    let input = browser.wait().at_most(WAIT).for_element(Locator::Id("new-project-name")).await.unwrap();
    input.send_keys("Browser lab").await.unwrap();
    click(&browser, "#create-project").await;

    wait_for_text(&browser, "#project-list .project .name", |t| t.contains("Browser lab")).await;
    wait_for_text(&browser, "#events .event", |t| t.contains("project.created Browser lab")).await;
    // The server agrees.
    let projects: serde_json::Value =
        reqwest::get(server.url("/v1/projects")).await.unwrap().json().await.unwrap();
    assert_eq!(projects[0]["name"], "Browser lab");

    // The new project is selected: add a VM, start it, stop it, delete it.
    let vm_name = browser.wait().at_most(WAIT).for_element(Locator::Id("new-vm-name")).await.unwrap();
    vm_name.send_keys("PC1").await.unwrap();
    click(&browser, "#create-vm").await;
    wait_for_text(&browser, "#vm-table .vm .name", |t| t == "PC1").await;
    wait_for_text(&browser, "#events .event", |t| t.contains("vm.created PC1")).await;
    click(&browser, "#vm-table .vm button.toggle").await;
    wait_for_text(&browser, "#vm-table .vm .badge", |t| t == "started").await;
    wait_for_text(&browser, "#events .event", |t| t.contains("vm.started PC1")).await;

    // Its console, in the page: type a command, see the PC answer and the table follow.
    click(&browser, "#vm-table .vm button.console").await;
    wait_for_text(&browser, r#"[data-console="PC1"] .console-output"#, |t| {
        t.contains("Welcome to Virtual PC Simulator")
    })
    .await;
    let line = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(r#"[data-console="PC1"] .console-input"#))
        .await
        .unwrap();
    line.send_keys("ip 10.0.0.9/24").await.unwrap();
    line.send_keys(&fantoccini::key::Key::Enter.to_string()).await.unwrap();
    wait_for_text(&browser, r#"[data-console="PC1"] .console-output"#, |t| {
        t.contains("PC1 : 10.0.0.9 255.255.255.0")
    })
    .await;
    wait_for_text(&browser, "#vm-table .vm .ip", |t| t == "10.0.0.9/24").await;
    wait_for_text(&browser, r#"[data-console="PC1"]"#, |t| t.contains("Console of PC1")).await;

    // A lab in the page: a second PC and a switch, linked with the form,
    // and PC2 pings PC1 through the switch.
    let vm_name = browser.find(Locator::Id("new-vm-name")).await.unwrap();
    vm_name.send_keys("PC2").await.unwrap();
    click(&browser, "#create-vm").await;
    click(&browser, "#create-switch").await;
    wait_for_text(&browser, "#switch-table .switch .name", |t| t == "SW1").await;
    wait_for_text(&browser, "#vm-table .vm .name", |t| t == "PC1\nPC2").await;
    for (pc, port) in [("PC1", "SW1 port 0"), ("PC2", "SW1 port 1")] {
        wait_for_text(&browser, "#link-b", |t| t.contains(port)).await;
        select(&browser, "#link-a", pc).await;
        select(&browser, "#link-b", port).await;
        click(&browser, "#create-link").await;
        wait_for_text(&browser, "#vm-table .vm:last-child .name", |t| t == "PC2").await;
        wait_for_text(&browser, "#link-a", |t| !t.contains(pc)).await;
    }
    wait_for_count(&browser, ".topology line.link", 2).await;
    wait_for_count(&browser, ".topology .node.pc", 2).await;
    wait_for_count(&browser, ".topology .node.switch", 1).await;
    wait_for_text(&browser, "#switch-table .switch .ports", |t| t == "2 of 8 ports linked").await;
    click(&browser, "#switch-table .switch button.toggle").await;
    click(&browser, "#vm-table .vm:last-child button.toggle").await;
    wait_for_text(&browser, "#vm-table .vm .badge", |t| t == "started\nstarted").await;
    wait_for_text(&browser, "#switch-table .switch .badge", |t| t == "started").await;
    click(&browser, "#vm-table .vm:last-child button.console").await;
    wait_for_text(&browser, r#"[data-console="PC2"]"#, |t| t.contains("Console of PC2")).await;
    // Both consoles stay open, each pane with its own scrollback.
    wait_for_text(&browser, r#"[data-console="PC1"] .console-output"#, |t| t.contains("PC1 : 10.0.0.9"))
        .await;
    wait_for_text(&browser, r#"[data-console="PC2"] .console-output"#, |t| t.contains("PC2> ")).await;
    for command in ["ip 10.0.0.10/24", "ping 10.0.0.9 -c 2"] {
        let line = browser.find(Locator::Css(r#"[data-console="PC2"] .console-input"#)).await.unwrap();
        line.send_keys(command).await.unwrap();
        line.send_keys(&fantoccini::key::Key::Enter.to_string()).await.unwrap();
    }
    wait_for_text(&browser, r#"[data-console="PC2"] .console-output"#, |t| {
        t.contains("84 bytes from 10.0.0.9 icmp_seq=2")
    })
    .await;

    let shot = browser.screenshot().await.unwrap();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&out, shot).unwrap();
    browser.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    std::fs::write(out.with_file_name("dashboard-lab.png"), browser.screenshot().await.unwrap()).unwrap();
    // The server agrees: the two PCs' tunnels face the switch's ports 0 and 1.
    let base = server.url(&format!("/v1/projects/{}", projects[0]["project_id"].as_str().unwrap()));
    let vms: serde_json::Value =
        reqwest::get(format!("{base}/vpcs/vms")).await.unwrap().json().await.unwrap();
    let switches: serde_json::Value =
        reqwest::get(format!("{base}/switches/vms")).await.unwrap().json().await.unwrap();
    for (i, vm) in vms.as_array().unwrap().iter().enumerate() {
        let (pc, port) = (&vm["nio"], &switches[0]["ports"][i]["nio"]);
        assert_eq!((&pc["lport"], &pc["rport"]), (&port["rport"], &port["lport"]), "{vms}\n{switches}");
    }

    // Unlinking PC2 frees its end and the switch's port.
    click(&browser, "#vm-table .vm:last-child button.unlink").await;
    wait_for_count(&browser, ".topology line.link", 1).await;
    wait_for_text(&browser, "#switch-table .switch .ports", |t| t == "1 of 8 ports linked").await;
    let switches: serde_json::Value =
        reqwest::get(format!("{base}/switches/vms")).await.unwrap().json().await.unwrap();
    assert_eq!(switches[0]["ports"][1]["nio"], serde_json::Value::Null);

    click(&browser, "#vm-table .vm button.toggle").await;
    wait_for_text(&browser, "#vm-table .vm .badge", |t| t == "stopped\nstarted").await;
    click(&browser, "#vm-table .vm button.danger").await;
    wait_for_text(&browser, "#events .event", |t| t.contains("vm.deleted PC1")).await;
    wait_for_text(&browser, "#vm-table .vm .name", |t| t == "PC2").await;

    // Delete the project from the list.
    click(&browser, "#project-list .project button.danger").await;
    wait_for_text(&browser, "#events .event", |t| t.contains("project.deleted Browser lab")).await;
    let projects: serde_json::Value =
        reqwest::get(server.url("/v1/projects")).await.unwrap().json().await.unwrap();
    assert_eq!(projects, serde_json::json!([]));
    browser.close().await.unwrap();
}

/// The engine panel: build a patch through the OSC bridge, hear it on the meters, see the traffic.
#[tokio::test]
async fn build_a_patch_in_the_browser_and_watch_its_meter() {
    let dist = built_dashboard();
    let dir = tempfile::tempdir().unwrap();
    let server =
        common::Binary::start(dir.path(), &[&format!("--dashboard={}", dist.display()), "--no-audio"]);
    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    browser.goto(&server.url("/")).await.unwrap();
    wait_for_text(&browser, ".status", |t| t == "live").await;
    // The patch as a list is closed at first; open, it lists each transform.
    wait_for_text(&browser, "#transform-list summary", |t| t.contains("(0 transforms)")).await;
    click(&browser, "#transform-list summary").await;
    let add = |ty: &'static str, name: &'static str| {
        let browser = browser.clone();
        async move {
            add_from_palette(&browser, ty, name).await;
            wait_for_text(&browser, "#transforms", |t| t.contains(&format!("/patch/{name}"))).await;
        }
    };
    add("Sinewave", "sine0").await;
    add("AudioOutput", "out").await;
    let fill = |form: &'static str, a: &'static str, b: &'static str| {
        let browser = browser.clone();
        async move {
            let inputs = browser.find_all(Locator::Css(&format!("{form} input"))).await.unwrap();
            for (input, text) in inputs.iter().zip([a, b]) {
                input.clear().await.unwrap();
                input.send_keys(text).await.unwrap();
            }
            click(&browser, &format!("{form} button")).await;
        }
    };
    fill("#connect", "sine0/samplesOut", "out/mix").await;
    fill("#set-value", "out/onoff", "T").await;

    // The meter follows the output's level (a full-scale sine).
    wait_for_text(&browser, "#meters .meter .label", |t| t.contains("out/level_left")).await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let bar = browser.find(Locator::Css("#meters .meter .bar")).await.unwrap();
        let style = bar.attr("style").await.unwrap().unwrap_or_default();
        if style.contains("width: 100%") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the meter never rose: {style}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_text(&browser, "#meters .meter .db", |t| t.lines().eq(["0.0 dB", "0.0 dB"])).await; // left and right
    wait_for_text(&browser, "#osc-traffic", |t| {
        t.contains("/patch/add-transform") && t.contains("/patch/sine0/samplesOut/connect")
    })
    .await;
    // Who sent each message is shown; the page's own listings are not.
    let log = wait_for_text(&browser, "#osc-traffic .peer", |t| t.lines().all(|l| l == "websocket")).await;
    assert!(!log.is_empty());
    let log = text_of(&browser, "#osc-traffic").await;
    assert!(
        !log.contains("/transform-types")
            && !log.lines().any(|l| l.contains("/patch/ ") || l.ends_with("/patch/")),
        "{log}"
    );
    wait_for_text(&browser, "#events .event", |t| t.contains("engine.changed")).await;
    let shot = browser.screenshot().await.unwrap();
    std::fs::write(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-engine.png"), shot).unwrap();

    // The server agrees.
    let patch: serde_json::Value =
        reqwest::get(server.url("/v1/engine/patch")).await.unwrap().json().await.unwrap();
    assert_eq!(patch["connections"], serde_json::json!([{"from": "sine0/samplesOut", "to": "out/mix"}]));
    // A mistake shows the server's message.
    fill("#set-value", "sine0/freq", "loud").await;
    wait_for_text(&browser, "#engine-error", |t| t.contains("Cannot set incompatible data type")).await;
    browser.close().await.unwrap();
}

/// A server started with a token file and a TLS certificate, as one
/// exposed would be: the page (over HTTPS, its sockets over WSS) asks for
/// the token once, then works as before, and keeps it for the tab.
#[tokio::test]
async fn a_server_with_tokens_and_tls_asks_the_page_for_a_token_and_then_works() {
    let dist = built_dashboard();
    assert!(dist.join("index.html").exists(), "dist/ is not built: run `trunk build --release`");
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.txt");
    let admin = "a-token-for-the-browser-test-0001";
    std::fs::write(&tokens, format!("admin {admin}\n")).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let server = common::Binary::start(
        &dir.path().join("data"),
        &[
            &format!("--dashboard={}", dist.display()),
            &format!("--token-file={}", tokens.display()),
            &format!("--tls-cert={}", cert_file.display()),
            &format!("--tls-key={}", key_file.display()),
        ],
    );
    let https = |path: &str| format!("https://{}{path}", server.addr);
    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;

    browser.goto(&https("/")).await.unwrap();
    let field = browser.wait().at_most(WAIT).for_element(Locator::Id("token")).await.unwrap();
    field.send_keys("not-the-token-0000000000").await.unwrap();
    click(&browser, "#login").await;
    wait_for_text(&browser, ".login", |t| t.contains("not valid")).await;
    let field = browser.wait().at_most(WAIT).for_element(Locator::Id("token")).await.unwrap();
    field.send_keys(admin).await.unwrap();
    click(&browser, "#login").await;
    // "live" means the notification WebSocket opened with the token.
    wait_for_text(&browser, ".status", |t| t == "live").await;
    let input = browser.wait().at_most(WAIT).for_element(Locator::Id("new-project-name")).await.unwrap();
    input.send_keys("Guarded lab").await.unwrap();
    click(&browser, "#create-project").await;
    wait_for_text(&browser, "#events .event", |t| t.contains("project.created Guarded lab")).await;
    // The server agrees (curl, trusting the test's certificate).
    let out = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&cert_file)
        .args(["-H", &format!("Authorization: Bearer {admin}"), &https("/v1/projects")])
        .output()
        .unwrap();
    let projects: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(projects[0]["name"], "Guarded lab");
    // A reload keeps the token for this tab: no second question.
    browser.refresh().await.unwrap();
    wait_for_text(&browser, ".status", |t| t == "live").await;
    browser.close().await.unwrap();
}

/// Serves one HTML page on a free port of its own, as any web site would.
async fn serve_page(html: String) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    port
}

/// A page from another local port tries what a hostile site would: a
/// simple cross-origin POST, the OSC bridge (to send `/osw-quit`) and the
/// notification socket. All are refused and the server stays up.
#[tokio::test]
async fn a_page_from_another_port_cannot_drive_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::Binary::start(dir.path(), &["--no-audio"]);
    let target = server.addr;
    let html = format!(
        r#"<!doctype html><title>evil</title><pre id="log"></pre><script>
        const log = (t) => document.getElementById('log').textContent += t + '\n';
        fetch('http://{target}/v1/projects', {{method: 'POST', mode: 'no-cors',
            headers: {{'Content-Type': 'text/plain'}}, body: '{{"name": "csrf"}}'}})
          .then(() => log('post sent'), () => log('post failed'));
        for (const path of ['/v1/osc/ws', '/v1/notifications/ws']) {{
          const ws = new WebSocket('ws://{target}' + path);
          ws.onopen = () => {{ log('open ' + path); ws.send(JSON.stringify({{address: '/osw-quit', args: []}})); }};
          ws.onerror = () => log('refused ' + path);
        }}
        </script>"#
    );
    let page = serve_page(html).await;
    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    browser.goto(&format!("http://127.0.0.1:{page}/")).await.unwrap();
    let log = wait_for_text(&browser, "#log", |t| {
        t.contains("post") && t.contains("/v1/osc/ws") && t.contains("/v1/notifications/ws")
    })
    .await;
    assert!(log.contains("refused /v1/osc/ws") && log.contains("refused /v1/notifications/ws"), "{log}");
    assert!(!log.contains("open"), "{log}");
    browser.close().await.unwrap();
    let projects: serde_json::Value =
        reqwest::get(server.url("/v1/projects")).await.unwrap().json().await.unwrap();
    assert_eq!(projects, serde_json::json!([]), "the page's POST created nothing");
    assert_eq!(reqwest::get(server.url("/v1/version")).await.unwrap().status(), 200, "still up");
}
