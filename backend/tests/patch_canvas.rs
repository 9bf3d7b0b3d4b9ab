//! The patch canvas in headless Chromium: sine -> lowpass -> output built by
//! dragging from outlets to inlets, a port's name on hover, a refused wire
//! showing the server's reason, a wire selected (on it or beside it) and
//! deleted, a value edited in the inspector (typed, or dragged and undone)
//! and read back over OSC, a value that arrives over a connection shown in
//! the inspector, an edit made over OSC followed without a reload, a box
//! dragged across the canvas's strips, and no change lost while the page
//! loads.
//!
//! Needs `dist/` built by `trunk build --release` (scripts/test.sh does it).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::browser::{
    add_from_palette, built_dashboard, click, click_at, drag, drag_by, hover, press, wait_for_attr,
    wait_for_count, wait_for_text, ChromeDriver, MOUSE_BUTTON_LEFT,
};
use common::osc_client::{s, Client as Osc};
use common::watch::free_osc_port;
use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::Locator;
use patchbay::osc::codec::Arg;

/// A port of a box on the canvas.
fn port(transform: &str, side: &str, name: &str) -> String {
    format!(r#"#patch-canvas [data-transform="{transform}"] .{side}[data-port="{name}"]"#)
}

/// Waits until `address` reads `expected` over OSC.
async fn wait_for_value(osc: &Osc, address: &str, expected: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = osc.ask(&format!("{address}/current-value"), vec![]);
        if got.get(1) == Some(&Arg::Float(expected as f32)) || got.get(1) == Some(&Arg::Double(expected)) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{address} never became {expected}: {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn wire(from: &str, to: &str) -> String {
    format!(r#"#patch-canvas .wire[data-from="{from}"][data-to="{to}"]"#)
}

/// The server with the built dashboard, no audio, and its OSC port.
fn serve_dashboard(dir: &std::path::Path) -> (common::Binary, u16) {
    let dist = built_dashboard();
    assert!(dist.join("index.html").exists(), "dist/ is not built: run `trunk build --release`");
    let osc_port = free_osc_port();
    let server = common::Binary::start(
        dir,
        &[&format!("--dashboard={}", dist.display()), "--no-audio", &format!("--osc-port={osc_port}")],
    );
    (server, osc_port)
}

/// The server running `patch` (a patch file), an OSC client to it, and a
/// browser showing its dashboard (the driver must outlive the browser).
async fn open_with_patch(
    dir: &std::path::Path,
    patch: &serde_json::Value,
) -> (common::Binary, Osc, ChromeDriver, fantoccini::Client) {
    let (server, osc_port) = serve_dashboard(dir);
    let put = reqwest::Client::new().put(server.url("/v1/engine/patch")).json(patch).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    let osc = tokio::task::spawn_blocking(move || Osc::new(osc_port)).await.unwrap();
    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    browser.goto(&server.url("/")).await.unwrap();
    (server, osc, driver, browser)
}

#[tokio::test]
async fn build_sine_lowpass_output_by_dragging_and_edit_it_inline() {
    let dir = tempfile::tempdir().unwrap();
    let (server, osc_port) = serve_dashboard(dir.path());
    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    browser.goto(&server.url("/")).await.unwrap();
    wait_for_text(&browser, ".status", |t| t == "live").await;
    // The palette's search reads the documentation too: "12 dB per octave" finds the two filters.
    let search = browser.wait().for_element(Locator::Id("palette-search")).await.unwrap();
    search.send_keys("12 dB per octave").await.unwrap();
    wait_for_text(&browser, "#palette .palette-type", |t| {
        t == "Lowpass\nHighpass" || t == "Highpass\nLowpass"
    })
    .await;
    wait_for_count(&browser, "#palette .palette-group", 1).await;
    wait_for_count(&browser, r#"#palette .palette-group[data-category="filter"]"#, 1).await;
    for (ty, name) in [("Sinewave", "sine0"), ("Lowpass", "lp"), ("AudioOutput", "out")] {
        add_from_palette(&browser, ty, name).await;
        wait_for_count(&browser, &format!(r#"#patch-canvas [data-transform="{name}"]"#), 1).await;
    }
    // Audio and control ports look different.
    let freq = browser.find(Locator::Css(&port("sine0", "inlet", "freq"))).await.unwrap();
    assert!(freq.attr("class").await.unwrap().unwrap().contains("control"));
    // A port tells its name on hover (its title is made as the pointer comes over it).
    hover(&browser, &port("sine0", "inlet", "freq")).await;
    let title = format!(
        "return document.querySelector('{} title')?.textContent ?? null",
        port("sine0", "inlet", "freq").replace('\'', "\\'")
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while browser.execute(&title, vec![]).await.unwrap() != serde_json::json!("freq") {
        assert!(std::time::Instant::now() < deadline, "the freq port never got its title");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = browser.find(Locator::Css(&port("sine0", "outlet", "samplesOut"))).await.unwrap();
    assert!(out.attr("class").await.unwrap().unwrap().contains("audio"));

    drag(&browser, &port("sine0", "outlet", "samplesOut"), &port("lp", "inlet", "samplesIn"), (0.0, 0.0))
        .await;
    wait_for_count(&browser, &wire("sine0/samplesOut", "lp/samplesIn"), 1).await;
    drag(&browser, &port("lp", "outlet", "samplesOut"), &port("out", "inlet", "mix"), (0.0, 0.0)).await;
    wait_for_count(&browser, &wire("lp/samplesOut", "out/mix"), 1).await;
    let patch: serde_json::Value =
        reqwest::get(server.url("/v1/engine/patch")).await.unwrap().json().await.unwrap();
    assert_eq!(
        patch["connections"],
        serde_json::json!([
            {"from": "sine0/samplesOut", "to": "lp/samplesIn"},
            {"from": "lp/samplesOut", "to": "out/mix"},
        ])
    );
    // Mid-drag, the box and its wire follow the pointer (each move redraws just them).
    let press_and_move = r#"
        const body = document.querySelector('#patch-canvas [data-transform="sine0"] .body');
        const svg = document.getElementById('patch-canvas');
        const r = body.getBoundingClientRect();
        // Not the mouse's id (1): a capture of it would outlive these events.
        const at = (dx, dy) => ({clientX: r.x + 5 + dx, clientY: r.y + 5 + dy, bubbles: true, pointerId: 7});
        window.release = () => svg.dispatchEvent(new PointerEvent('pointerup', at(60, 20)));
        body.dispatchEvent(new PointerEvent('pointerdown', at(0, 0)));
        svg.dispatchEvent(new PointerEvent('pointermove', at(60, 20)));
    "#;
    let sine_box = r#"#patch-canvas [data-transform="sine0"]"#;
    let sine_wire = wire("sine0/samplesOut", "lp/samplesIn");
    let attr = |css: String, name: &'static str| {
        let browser = browser.clone();
        async move { browser.find(Locator::Css(&css)).await.unwrap().attr(name).await.unwrap().unwrap() }
    };
    let (place, path) = (attr(sine_box.into(), "transform").await, attr(sine_wire.clone(), "d").await);
    browser.execute(press_and_move, vec![]).await.unwrap();
    let numbers = |s: &str| -> Vec<f64> {
        s.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .filter_map(|v| v.parse().ok())
            .collect()
    };
    let (x, y) = (numbers(&place)[0], numbers(&place)[1]);
    wait_for_attr(&browser, sine_box, "transform", &format!("translate({}, {})", x + 60.0, y + 20.0)).await;
    // A wire's path starts "M x y": its outlet's end, moved with the box.
    let (before, during) = (numbers(&path), numbers(&attr(sine_wire, "d").await));
    assert_eq!((during[0] - before[0], during[1] - before[1]), (60.0, 20.0), "{path} -> {during:?}");
    browser.execute("window.release()", vec![]).await.unwrap();

    // Audio into a Boolean inlet is refused, with the server's reason, and draws nothing.
    // (The canvas in view first: a drag that scrolls the page as it goes can miss the inlet.)
    browser.execute("document.querySelector('.canvas').scrollIntoView()", vec![]).await.unwrap();
    drag(&browser, &port("sine0", "outlet", "samplesOut"), &port("out", "inlet", "onoff"), (0.0, 0.0)).await;
    let reason = wait_for_text(&browser, "#engine-error", |t| {
        t.contains("Cannot connect a Samples outlet to a Boolean inlet")
    })
    .await;
    assert_eq!(browser.find_all(Locator::Css("#patch-canvas .wire")).await.unwrap().len(), 2, "{reason}");
    click(&browser, "#engine-error").await;

    // Inline edit: click the box, type a value; OSC reads it back.
    let body = browser.find(Locator::Css(r#"#patch-canvas [data-transform="lp"] .body"#)).await.unwrap();
    body.click().await.unwrap();
    let field = r#"#inspector tr[data-state="freq"] input"#;
    let input = browser.wait().for_element(Locator::Css(field)).await.unwrap();
    // The inspector says what the type does and what its ports mean.
    wait_for_text(&browser, "#inspector .doc", |t| t.contains("12 dB per octave") && t.contains("freq"))
        .await;
    input.clear().await.unwrap();
    input.send_keys("800\n").await.unwrap();
    let osc = tokio::task::spawn_blocking(move || Osc::new(osc_port));
    let osc = osc.await.unwrap();
    wait_for_value(&osc, "/patch/lp/freq", 800.0).await;

    // An edit from OSC shows on the canvas without a reload: the value in
    // the inspector, a new box and its wire.
    assert_eq!(osc.ask("/patch/lp/freq", vec![Arg::Float(1234.0)]), vec![Arg::Int(0)]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let el = browser.find(Locator::Css(field)).await.unwrap();
        if el.prop("value").await.unwrap().as_deref() == Some("1234") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the inspector never showed 1234");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Dragging a number's name up changes it, a unit a pixel; OSC reads it back.
    drag_by(&browser, r#"#inspector tr[data-state="freq"] th"#, (0.0, -20.0)).await;
    wait_for_value(&osc, "/patch/lp/freq", 1254.0).await;
    // The whole drag is one edit: one undo puts back where it started.
    click(&browser, "#undo").await;
    wait_for_value(&osc, "/patch/lp/freq", 1234.0).await;
    assert_eq!(osc.ask("/patch/add-transform", vec![s("Sinewave"), s("lfo")]), vec![Arg::Int(0)]);
    assert_eq!(osc.ask("/patch/lfo/samplesOut/connect", vec![s("/patch/out/mix")]), vec![Arg::Int(0)]);
    wait_for_count(&browser, &wire("lfo/samplesOut", "out/mix"), 1).await;

    // A box dragged keeps its place in the patch file; set-layout over OSC moves it live.
    let out_box = r#"#patch-canvas [data-transform="out"]"#;
    let before = browser.find(Locator::Css(out_box)).await.unwrap().attr("transform").await.unwrap();
    drag(&browser, &format!("{out_box} .body"), &format!("{out_box} .body"), (150.0, 40.0)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let layout = loop {
        let patch: serde_json::Value =
            reqwest::get(server.url("/v1/engine/patch")).await.unwrap().json().await.unwrap();
        let out =
            patch["transforms"].as_array().unwrap().iter().find(|t| t["name"] == "out").unwrap().clone();
        if !out["layout"].is_null() {
            break out["layout"].clone();
        }
        if std::time::Instant::now() > deadline {
            let shown = browser.find(Locator::Css(out_box)).await.unwrap().attr("transform").await.unwrap();
            let errors = common::browser::text_of(&browser, "#engine-error, #error").await;
            panic!(
                "the move never reached the patch file: {patch}; box at {shown:?} (was {before:?}); {errors}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (x, y) = (layout["x"].as_f64().unwrap(), layout["y"].as_f64().unwrap());
    let placed = format!("translate({x}, {y})");
    assert_ne!(before.as_deref(), Some(placed.as_str()), "the box did not move");
    wait_for_attr(&browser, out_box, "transform", &placed).await;
    assert_eq!(osc.ask("/patch/lp/set-layout", vec![Arg::Int(400), Arg::Float(30.0)]), vec![Arg::Int(0)]);
    wait_for_attr(&browser, r#"#patch-canvas [data-transform="lp"]"#, "transform", "translate(400, 30)")
        .await;
    let refused = osc.ask("/patch/set-layout", vec![Arg::Int(1), Arg::Int(2)]);
    assert_eq!(refused[0], Arg::Int(-1), "the root patch has no box: {refused:?}");
    browser.refresh().await.unwrap();
    wait_for_attr(&browser, out_box, "transform", &placed).await;
    wait_for_attr(&browser, r#"#patch-canvas [data-transform="lp"]"#, "transform", "translate(400, 30)")
        .await;

    let shot = browser.screenshot().await.unwrap();
    std::fs::write(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("patch-canvas.png"), shot).unwrap();

    // A click beside a wire, off its 1.5 px line, picks it too.
    let beside = r#"
        const path = document.querySelector(arguments[0]);
        path.scrollIntoView({ block: 'center', inline: 'center' });
        const svg = document.getElementById('patch-canvas');
        const mid = path.getPointAtLength(path.getTotalLength() / 2);
        const r = svg.getBoundingClientRect();
        const [x, y] = [r.x + mid.x + 4, r.y + mid.y];
        const hit = document.elementFromPoint(x, y);
        return [x, y, hit === svg, hit ? hit.outerHTML.slice(0, 80) : null];
    "#;
    let at =
        browser.execute(beside, vec![serde_json::json!(wire("lp/samplesOut", "out/mix"))]).await.unwrap();
    let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
    assert_eq!(at[2], serde_json::json!(true), "the point beside the wire is the canvas, not the wire: {at}");
    click_at(&browser, (x, y)).await;
    wait_for_text(&browser, "#delete-wire", |t| t.contains("lp/samplesOut")).await;

    // Select a wire by clicking it (this one runs in the open), and delete it.
    press(&browser, &wire("sine0/samplesOut", "lp/samplesIn"), MOUSE_BUTTON_LEFT).await;
    wait_for_text(&browser, "#delete-wire", |t| t.contains("sine0/samplesOut")).await;
    click(&browser, "#delete-wire").await;
    wait_for_count(&browser, &wire("sine0/samplesOut", "lp/samplesIn"), 0).await;
    let patch: serde_json::Value =
        reqwest::get(server.url("/v1/engine/patch")).await.unwrap().json().await.unwrap();
    assert_eq!(patch["connections"].as_array().unwrap().len(), 2, "{patch}");
    browser.close().await.unwrap();
}

/// The page starts its notification socket and the patch's fetch before
/// its wasm runs (`frontend/boot.js`), and the wasm takes both over. No
/// change made while the page loads may fall between them: transforms are
/// added over OSC all through the load, and the canvas must end up with
/// exactly the server's.
#[tokio::test]
async fn no_change_made_while_the_page_loads_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (server, osc_port) = serve_dashboard(dir.path());
    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let adding = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || {
            let osc = Osc::new(osc_port);
            let mut added = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("v{added}");
                assert_eq!(osc.ask("/patch/add-transform", vec![s("Value"), s(&name)]), vec![Arg::Int(0)]);
                added += 1;
                std::thread::sleep(Duration::from_millis(3));
            }
            added
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    browser.goto(&server.url("/")).await.unwrap();
    wait_for_text(&browser, ".status", |t| t == "live").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let added = adding.await.unwrap();
    // The wasm took over what boot.js started, rather than opening its own.
    let taken = "const b = window.patchbayBoot; return !!b && !('socket' in b) && !('held' in b);";
    assert_eq!(browser.execute(taken, vec![]).await.unwrap(), serde_json::json!(true));
    wait_for_count(&browser, "#patch-canvas .box", added).await;
    let shown = browser
        .execute(
            "return [...document.querySelectorAll('#patch-canvas .box')].map(b => b.dataset.transform)",
            vec![],
        )
        .await
        .unwrap();
    let mut shown: Vec<String> = serde_json::from_value(shown).unwrap();
    shown.sort();
    let mut expected: Vec<String> = (0..added).map(|i| format!("v{i}")).collect();
    expected.sort();
    assert_eq!(shown, expected);
    browser.close().await.unwrap();
}

/// The page's own edits undone and redone (buttons and Ctrl+Z on the
/// canvas), a deleted transform coming back with its value and wire, the
/// running patch saved as a file and files loaded (a bad one refused with
/// the server's reason, the patch kept).
#[tokio::test]
async fn undo_redo_save_and_load_from_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let (server, osc_port) = serve_dashboard(dir.path());
    let downloads = tempfile::tempdir().unwrap();
    let driver = ChromeDriver::start().await;
    let browser = driver.browser_downloading_to(downloads.path()).await;
    browser.goto(&server.url("/")).await.unwrap();
    wait_for_text(&browser, ".status", |t| t == "live").await;
    let osc = tokio::task::spawn_blocking(move || Osc::new(osc_port)).await.unwrap();
    let freq = |osc: &Osc| match osc.ask("/patch/sine0/freq/current-value", vec![]).as_slice() {
        [Arg::Int(0), Arg::Float(f)] => Some(*f as f64),
        [Arg::Int(0), Arg::Double(f)] => Some(*f),
        _ => None,
    };
    let until = |what: &str, ok: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !ok() {
            assert!(std::time::Instant::now() < deadline, "never: {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert_eq!(
        browser.find(Locator::Id("undo")).await.unwrap().attr("disabled").await.unwrap().as_deref(),
        Some("true"),
        "nothing to undo yet"
    );

    // Build: two boxes, a wire, a value edited inline.
    for (ty, name) in [("Sinewave", "sine0"), ("AudioOutput", "out")] {
        add_from_palette(&browser, ty, name).await;
        wait_for_count(&browser, &format!(r#"#patch-canvas [data-transform="{name}"]"#), 1).await;
    }
    drag(&browser, &port("sine0", "outlet", "samplesOut"), &port("out", "inlet", "mix"), (0.0, 0.0)).await;
    wait_for_count(&browser, &wire("sine0/samplesOut", "out/mix"), 1).await;
    browser
        .find(Locator::Css(r#"#patch-canvas [data-transform="sine0"] .body"#))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let field = r#"#inspector tr[data-state="freq"] input"#;
    let input = browser.wait().for_element(Locator::Css(field)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys("330\n").await.unwrap();
    until("freq 330", &|| freq(&osc) == Some(330.0));

    // Delete the sine from the list (closed at first), then undo: it comes back whole.
    click(&browser, "#transform-list summary").await;
    click(&browser, r#"#transforms li[data-transform="sine0"] button"#).await;
    wait_for_count(&browser, r#"#patch-canvas [data-transform="sine0"]"#, 0).await;
    wait_for_count(&browser, &wire("sine0/samplesOut", "out/mix"), 0).await;
    click(&browser, "#undo").await;
    wait_for_count(&browser, r#"#patch-canvas [data-transform="sine0"]"#, 1).await;
    wait_for_count(&browser, &wire("sine0/samplesOut", "out/mix"), 1).await;
    until("the restored sine at 330", &|| freq(&osc) == Some(330.0));

    // Undo the inline edit, redo it, and undo it again from the keyboard.
    click(&browser, "#undo").await;
    until("freq back to 440", &|| freq(&osc) == Some(440.0));
    click(&browser, "#redo").await;
    until("freq 330 again", &|| freq(&osc) == Some(330.0));
    let canvas = browser.find(Locator::Css(".canvas")).await.unwrap();
    canvas.send_keys("\u{E009}z").await.unwrap(); // Control+Z
    until("freq 440 by Ctrl+Z", &|| freq(&osc) == Some(440.0));
    // Undo the wire: gone from the server's patch, not only the canvas.
    click(&browser, "#undo").await;
    wait_for_count(&browser, &wire("sine0/samplesOut", "out/mix"), 0).await;
    let patch: serde_json::Value =
        reqwest::get(server.url("/v1/engine/patch")).await.unwrap().json().await.unwrap();
    assert_eq!(patch["connections"], serde_json::json!([]), "{patch}");

    // Save: the downloaded file is the running patch.
    click(&browser, "#save-patch").await;
    let saved = downloads.path().join("patch.json");
    until("patch.json downloaded", &|| saved.exists());
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let running: serde_json::Value =
        reqwest::get(server.url("/v1/engine/patch")).await.unwrap().json().await.unwrap();
    assert_eq!(file, running);
    assert_eq!(file["transforms"].as_array().unwrap().len(), 2, "{file}");

    // Load a file: it replaces the patch, and earlier edits can no longer be undone.
    let other = dir.path().join("other.json");
    std::fs::write(
        &other,
        r#"{"format": "patchbay-patch", "version": 1, "transforms": [
            {"name": "v", "type": "Value", "args": "7"}, {"name": "lfo", "type": "Sinewave", "args": "2"}]}"#,
    )
    .unwrap();
    let picker = browser.find(Locator::Id("load-patch")).await.unwrap();
    picker.send_keys(&other.display().to_string()).await.unwrap();
    wait_for_count(&browser, r#"#patch-canvas [data-transform="lfo"]"#, 1).await;
    wait_for_count(&browser, "#patch-canvas .box", 2).await;
    wait_for_attr(&browser, "#undo", "disabled", "true").await;
    wait_for_count(&browser, "#inspector", 0).await; // its transform is gone
                                                     // A bad file: the server's reason shows, and the patch stays.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"format": "patchbay-patch", "version": 1, "transforms": [{"name": "x", "type": "NoSuchType"}]}"#,
    )
    .unwrap();
    let picker = browser.find(Locator::Id("load-patch")).await.unwrap();
    picker.send_keys(&bad.display().to_string()).await.unwrap();
    let reason = wait_for_text(&browser, "#engine-error", |t| t.contains("bad.json")).await;
    assert!(reason.contains("NoSuchType"), "{reason}");
    wait_for_count(&browser, "#patch-canvas .box", 2).await;
    let shot = browser.screenshot().await.unwrap();
    std::fs::write(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("patch-files.png"), shot).unwrap();
    browser.close().await.unwrap();
}

/// The points of a view's polyline (`x,y x,y ...`).
async fn polyline(browser: &fantoccini::Client, view: &str) -> Vec<(f64, f64)> {
    let css = format!(r#"#views figure[data-view="{view}"] polyline"#);
    let points = browser.find(Locator::Css(&css)).await.unwrap().attr("points").await.unwrap().unwrap();
    points
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

/// Where a spectrum's polyline peaks (its highest point: the smallest y).
fn peak_x(points: &[(f64, f64)]) -> f64 {
    points.iter().copied().fold((0.0, f64::MAX), |best, p| if p.1 < best.1 { p } else { best }).0
}

/// Scope and FFTMagnitude transforms, one inside a subpatch, draw their
/// waveform and spectrum from what the engine hears, and follow a change.
#[tokio::test]
async fn scopes_and_spectra_draw_what_the_engine_hears() {
    let dir = tempfile::tempdir().unwrap();
    let (server, osc_port) = serve_dashboard(dir.path());
    let patch = serde_json::json!({"format": "patchbay-patch", "version": 1,
        "transforms": [
            {"name": "src", "type": "Sinewave", "args": "3000"},
            {"name": "fft", "type": "FFTMagnitude", "args": "1024"},
            {"name": "sub", "type": "Patch", "patch": {
                "transforms": [
                    {"name": "lfo", "type": "Sinewave", "args": "200"},
                    {"name": "sc", "type": "Scope", "args": "512"}],
                "connections": [{"from": "lfo/samplesOut", "to": "sc/samplesIn"}]}}],
        "connections": [{"from": "src/samplesOut", "to": "fft/samplesIn"}]});
    let put = reqwest::Client::new().put(server.url("/v1/engine/patch")).json(&patch).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    browser.goto(&server.url("/")).await.unwrap();
    wait_for_count(&browser, r#"#views figure[data-view="/patch/sub/sc"] polyline"#, 1).await;
    wait_for_count(&browser, r#"#views figure[data-view="/patch/fft"] polyline"#, 1).await;

    // The scope: 512 samples of 200 Hz (two periods) from top to bottom of its 80 px.
    let scope = polyline(&browser, "/patch/sub/sc").await;
    assert_eq!(scope.len(), 512);
    let ys = scope.iter().map(|p| p.1);
    let (top, bottom) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    assert!(top < 6.0 && bottom > 74.0, "a full-scale sine spans the view: {top}..{bottom}");

    // The spectrum peaks at 3 kHz (bin 64 of 511 across 240 px), then follows the source to 6 kHz.
    let at = |hz: f64| hz / (48000.0 / 1024.0) / 511.0 * 240.0;
    let x = peak_x(&polyline(&browser, "/patch/fft").await);
    assert!((x - at(3000.0)).abs() < 2.0, "peak at x {x}, not {}", at(3000.0));
    let osc = tokio::task::spawn_blocking(move || Osc::new(osc_port)).await.unwrap();
    assert_eq!(osc.ask("/patch/src/freq", vec![Arg::Float(6000.0)]), vec![Arg::Int(0)]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let x = peak_x(&polyline(&browser, "/patch/fft").await);
        if (x - at(6000.0)).abs() < 2.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the spectrum never followed: peak at x {x}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.execute("document.querySelector('#views').scrollIntoView()", vec![]).await.unwrap();
    let shot = browser.screenshot().await.unwrap();
    std::fs::write(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("views.png"), shot).unwrap();
    browser.close().await.unwrap();
}

/// A patch of 500 transforms and 600 connections, loaded over HTTP, draws
/// every box and every wire (how fast: `cargo bench -p patchbay --bench dashboard`).
#[tokio::test]
async fn a_patch_of_500_transforms_and_600_connections_renders() {
    use common::big_patch::{big_patch, CONNECTIONS, TRANSFORMS};
    let dist = built_dashboard();
    assert!(dist.join("index.html").exists(), "dist/ is not built: run `trunk build --release`");
    let dir = tempfile::tempdir().unwrap();
    let server =
        common::Binary::start(dir.path(), &[&format!("--dashboard={}", dist.display()), "--no-audio"]);
    let put =
        reqwest::Client::new().put(server.url("/v1/engine/patch")).json(&big_patch()).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    browser.goto(&server.url("/")).await.unwrap();
    wait_for_count(&browser, "#patch-canvas .box", TRANSFORMS).await;
    wait_for_count(&browser, "#patch-canvas .wire", CONNECTIONS).await;
    wait_for_count(
        &browser,
        r#"#patch-canvas .wire[data-from="hi99/samplesOut"][data-to="g99/samplesIn"]"#,
        1,
    )
    .await;
    // Each box in its own place: no two drawn at the same spot.
    let places: Vec<String> = browser
        .execute("return [...document.querySelectorAll('#patch-canvas .box')].map(b => b.getAttribute('transform'))", vec![])
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let distinct: std::collections::BTreeSet<_> = places.iter().collect();
    assert_eq!(distinct.len(), TRANSFORMS, "boxes drawn over each other");
    let shot = browser.screenshot().await.unwrap();
    std::fs::write(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("patch-canvas-500.png"), shot).unwrap();
    browser.close().await.unwrap();
}

/// The boxes are drawn in strips that the browser renders only in view, and
/// a strip clips what it draws (see `patch_markup`). A box dragged from one
/// strip into another is drawn all the way, even when the patch changes
/// under the drag; it lands in the strip it was dropped in; and it is never
/// drawn twice, also when it is let go where it started.
#[tokio::test]
async fn a_box_dragged_across_strips_is_drawn_all_the_way_and_lands_once() {
    let dir = tempfile::tempdir().unwrap();
    let patch = serde_json::json!({ "format": "patchbay-patch", "version": 1, "transforms": [
        { "name": "a", "type": "Sinewave", "layout": { "x": 20, "y": 20 } },
        { "name": "b", "type": "Gain~", "layout": { "x": 200, "y": 400 } },
    ], "connections": [{ "from": "a/samplesOut", "to": "b/samplesIn" }] });
    let (_server, osc, _driver, browser) = open_with_patch(dir.path(), &patch).await;
    let a = r#"#patch-canvas [data-transform="a"]"#;
    wait_for_count(&browser, a, 1).await;
    browser.execute("document.querySelector('.canvas').scrollIntoView()", vec![]).await.unwrap();
    // Where box a is drawn, whether a hand finds it there, how many a's
    // there are, and the top of the strip it is in (null: not in a strip).
    let seen = r#"
        const body = document.querySelector('#patch-canvas [data-transform="a"] .body');
        const r = body.getBoundingClientRect();
        const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
        const strip = body.closest('.strip');
        return [r.y, hit === body, document.querySelectorAll('#patch-canvas [data-transform="a"]').length,
                strip ? parseFloat(strip.style.top) : null];
    "#;
    let look = || async {
        let v = browser.execute(seen, vec![]).await.unwrap();
        let (y, found, count, strip) =
            (v[0].as_f64().unwrap(), v[1].as_bool().unwrap(), v[2].as_u64(), v[3].as_f64());
        (y, (found, count.unwrap(), strip))
    };
    let (start_y, start) = look().await;
    assert_eq!(start, (true, 1, Some(-5.0)));

    // Pressed, and moved 300 px down in steps, out of a's strip.
    let body = browser.find(Locator::Css(&format!("{a} .body"))).await.unwrap();
    let mut hand = MouseActions::new("hand".into())
        .then(PointerAction::MoveToElement { element: body, duration: None, x: 0.0, y: 0.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT });
    for _ in 0..3 {
        hand =
            hand.then(PointerAction::MoveBy { duration: Some(Duration::from_millis(30)), x: 0.0, y: 100.0 });
    }
    browser.perform_actions(hand).await.unwrap();
    let (y, held) = look().await;
    assert_eq!(y - start_y, 300.0, "the box follows the hand");
    assert_eq!((held.0, held.1), (true, 1), "drawn once, and whole: {held:?}");

    // The patch changes under the drag (all strips drawn again); the drag goes on.
    assert_eq!(osc.ask("/patch/add-transform", vec![s("Sinewave"), s("c")]), vec![Arg::Int(0)]);
    wait_for_count(&browser, r#"#patch-canvas [data-transform="c"]"#, 1).await;
    let step = MouseActions::new("hand".into()).then(PointerAction::MoveBy {
        duration: Some(Duration::from_millis(30)),
        x: 0.0,
        y: 20.0,
    });
    browser.perform_actions(step).await.unwrap();
    let (y, held) = look().await;
    assert_eq!(y - start_y, 320.0, "the box still follows the hand");
    assert_eq!((held.0, held.1), (true, 1), "drawn once, and whole: {held:?}");

    // Let go: it lands in the strip of y = 340.
    let up = MouseActions::new("hand".into()).then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    browser.perform_actions(up).await.unwrap();
    browser.release_actions().await.unwrap();
    wait_for_attr(&browser, a, "transform", "translate(20, 340)").await;
    assert_eq!(look().await.1, (true, 1, Some(235.0)));

    // Dragged away and back to where it started: still one a, in its strip.
    let mut hand = MouseActions::new("hand".into())
        .then(PointerAction::MoveToElement {
            element: browser.find(Locator::Css(&format!("{a} .body"))).await.unwrap(),
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT });
    for dy in [-150.0, 150.0] {
        hand = hand.then(PointerAction::MoveBy { duration: Some(Duration::from_millis(30)), x: 0.0, y: dy });
    }
    browser.perform_actions(hand.then(PointerAction::Up { button: MOUSE_BUTTON_LEFT })).await.unwrap();
    browser.release_actions().await.unwrap();
    assert_eq!(look().await.1, (true, 1, Some(235.0)));
    browser.close().await.unwrap();
}

/// The engine announces values set, not values that arrive over a
/// connection; the inspector reads its transform's values while it is open,
/// so one fed by another transform shows what it holds. Its reads stay out
/// of the page's OSC traffic log.
#[tokio::test]
async fn a_value_that_arrives_over_a_connection_shows_in_the_inspector() {
    let dir = tempfile::tempdir().unwrap();
    let patch = serde_json::json!({ "format": "patchbay-patch", "version": 1, "transforms": [
        { "name": "src", "type": "Value", "layout": { "x": 20, "y": 20 } },
        { "name": "v", "type": "Value", "layout": { "x": 20, "y": 140 } },
    ], "connections": [{ "from": "src/out", "to": "v/in" }] });
    let (_server, osc, _driver, browser) = open_with_patch(dir.path(), &patch).await;
    press(&browser, r#"#patch-canvas [data-transform="v"] .body"#, MOUSE_BUTTON_LEFT).await;
    wait_for_count(&browser, r#"#inspector[data-inspecting="/patch/v"]"#, 1).await;

    assert_eq!(osc.ask("/patch/src/in", vec![Arg::Float(7.5)]), vec![Arg::Int(0)]);
    let field = r#"return document.querySelector('#inspector tr[data-state="in"] input')?.value ?? null"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let shown = browser.execute(field, vec![]).await.unwrap();
        if shown == serde_json::json!("7.5") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "v/in never showed 7.5: {shown}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = common::browser::text_of(&browser, "#osc-traffic").await;
    assert!(log.contains("/patch/src/in"), "another tool's set is in the log: {log}");
    assert!(!log.contains("current-value"), "the inspector's own reads are not: {log}");
    browser.close().await.unwrap();
}
