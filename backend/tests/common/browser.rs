//! Headless Chromium through Debian's chromedriver, for the dashboard tests:
//! a browser per test, and waits on what the page shows.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::{Client, ClientBuilder, Locator};

pub(crate) const WAIT: Duration = Duration::from_secs(20);
/// The buttons [`press`] takes (WebDriver's numbers).
pub(crate) const MOUSE_BUTTON_LEFT: u64 = fantoccini::actions::MOUSE_BUTTON_LEFT;
pub(crate) const MOUSE_BUTTON_RIGHT: u64 = fantoccini::actions::MOUSE_BUTTON_RIGHT;

pub(crate) struct ChromeDriver(Child, u16);

impl ChromeDriver {
    #[allow(clippy::zombie_processes)] // the process is reaped in Drop
    pub(crate) async fn start() -> ChromeDriver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // In a process group of its own, so that Drop can end the browsers it
        // started too, even when a test panics before closing its session.
        let child = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (scripts/setup.sh installs chromium-driver)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return ChromeDriver(child, port);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not listen on {port}");
    }

    pub(crate) async fn browser(&self) -> Client {
        self.session(serde_json::json!({})).await
    }

    /// A browser that saves downloads into `dir` without asking.
    pub(crate) async fn browser_downloading_to(&self, dir: &std::path::Path) -> Client {
        let prefs = serde_json::json!({
            "download.default_directory": dir.display().to_string(),
            "download.prompt_for_download": false,
        });
        self.session(prefs).await
    }

    async fn session(&self, prefs: serde_json::Value) -> Client {
        let profile = tempfile::tempdir().unwrap().keep();
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1300,800", "--ignore-certificate-errors", format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": prefs,
            }
        });
        let caps: serde_json::Map<String, serde_json::Value> = caps.as_object().unwrap().clone();
        // chromedriver accepts connections a moment before it serves them
        // well: a reset session request (seen once on a loaded machine) is tried again.
        let mut tries = 0;
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{}", self.1))
                .await
            {
                Ok(client) => return client,
                Err(e) if tries < 3 => {
                    tries += 1;
                    eprintln!("chromedriver session refused ({e}); trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => panic!("a Chromium session: {e:?}"),
            }
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `script` in every document `browser` opens from now on, before the
/// page's own scripts (DevTools' `Page.addScriptToEvaluateOnNewDocument`,
/// through chromedriver): a measurement that must not wait for WebDriver
/// to get a script into the page after it loaded.
pub(crate) async fn on_every_document(browser: &Client, script: &str) {
    let params = serde_json::json!({ "source": script });
    browser.issue_cmd(DevTools { method: "Page.addScriptToEvaluateOnNewDocument", params }).await.unwrap();
}

/// A DevTools protocol call, through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct DevTools {
    method: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.method, "params": self.params });
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

pub(crate) async fn text_of(browser: &Client, css: &str) -> String {
    let mut texts = vec![];
    for el in browser.find_all(Locator::Css(css)).await.unwrap() {
        texts.push(el.text().await.unwrap_or_default());
    }
    texts.join("\n")
}

/// Waits until the text of the elements matching `css` satisfies `ok`.
pub(crate) async fn wait_for_text(browser: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let text = text_of(browser, css).await;
        if ok(&text) {
            return text;
        }
        assert!(std::time::Instant::now() < deadline, "{css} never matched; last text: {text:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// This checkout's `dist/`. Found at run time (cargo runs tests in the
/// package's directory): a test binary built in another clone sharing the
/// target directory is reused as it is, with that clone's path compiled in.
pub(crate) fn built_dashboard() -> PathBuf {
    std::env::current_dir().unwrap().join("../dist")
}

/// Adds a transform from the palette: search for the type, pick it, name it, add it.
pub(crate) async fn add_from_palette(browser: &Client, type_name: &str, name: &str) {
    let search = browser.wait().at_most(WAIT).for_element(Locator::Id("palette-search")).await.unwrap();
    search.clear().await.unwrap();
    search.send_keys(type_name).await.unwrap();
    click(browser, &format!(r#"#palette .palette-type[data-type="{type_name}"]"#)).await;
    wait_for_count(browser, &format!(r#"#type-doc[data-type="{type_name}"]"#), 1).await;
    // Marked as picked, and the only one.
    wait_for_count(browser, "#palette .palette-type.picked", 1).await;
    wait_for_count(browser, &format!(r#"#palette .palette-type.picked[data-type="{type_name}"]"#), 1).await;
    let field = browser.find(Locator::Id("palette-name")).await.unwrap();
    field.send_keys(name).await.unwrap();
    click(browser, "#palette-add").await;
}

/// Waits until the first element matching `css` has `value` for `attr`.
pub(crate) async fn wait_for_attr(browser: &Client, css: &str, attr: &str, value: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let now = match browser.find(Locator::Css(css)).await {
            Ok(el) => el.attr(attr).await.ok().flatten(),
            Err(_) => None,
        };
        if now.as_deref() == Some(value) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{css} never had {attr}={value:?}; last {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `count` elements match `css`.
pub(crate) async fn wait_for_count(browser: &Client, css: &str, count: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found = browser.find_all(Locator::Css(css)).await.unwrap().len();
        if found == count {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{found} of {css}, not {count}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the element matching `css`. The page redraws a project's view on
/// every change, so an element found may be replaced before the click
/// lands: then it is found again.
pub(crate) async fn click(browser: &Client, css: &str) {
    act(browser, css, |el| async move { el.click().await.map(drop) }).await
}

/// Picks the option labelled `label` in the select matching `css`.
pub(crate) async fn select(browser: &Client, css: &str, label: &str) {
    act(browser, css, |el| async move { el.select_by_label(label).await }).await
}

/// Presses on the element matching `from`, moves to the one matching `to`
/// (`offset` from its centre) and lets go, as a hand would.
pub(crate) async fn drag(browser: &Client, from: &str, to: &str, (x, y): (f64, f64)) {
    let a = browser.find(Locator::Css(from)).await.unwrap();
    let b = browser.find(Locator::Css(to)).await.unwrap();
    let hand = MouseActions::new("hand".into())
        .then(PointerAction::MoveToElement { element: a, duration: None, x: 0.0, y: 0.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::MoveToElement { element: b, duration: Some(Duration::from_millis(150)), x, y })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    browser.perform_actions(hand).await.unwrap();
    browser.release_actions().await.unwrap();
}

/// Presses and releases `button` over the element matching `css`, as a
/// pointer does (an SVG shape, a context menu with [`MOUSE_BUTTON_RIGHT`]).
pub(crate) async fn press(browser: &Client, css: &str, button: u64) {
    let el = browser.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap();
    let hand = MouseActions::new("hand".into())
        .then(PointerAction::MoveToElement { element: el, duration: None, x: 0.0, y: 0.0 })
        .then(PointerAction::Down { button })
        .then(PointerAction::Up { button });
    browser.perform_actions(hand).await.unwrap();
    browser.release_actions().await.unwrap();
}

/// Presses on the element matching `css`, moves by `(dx, dy)` in steps, and lets go.
pub(crate) async fn drag_by(browser: &Client, css: &str, (dx, dy): (f64, f64)) {
    let el = browser.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap();
    let mut hand = MouseActions::new("hand".into())
        .then(PointerAction::MoveToElement { element: el, duration: None, x: 0.0, y: 0.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT });
    for _ in 0..4 {
        let step = Duration::from_millis(30);
        hand = hand.then(PointerAction::MoveBy { duration: Some(step), x: dx / 4.0, y: dy / 4.0 });
    }
    browser.perform_actions(hand.then(PointerAction::Up { button: MOUSE_BUTTON_LEFT })).await.unwrap();
    browser.release_actions().await.unwrap();
}

/// Presses and releases the left button at `(x, y)` in the viewport.
pub(crate) async fn click_at(browser: &Client, (x, y): (f64, f64)) {
    let hand = MouseActions::new("hand".into())
        .then(PointerAction::MoveTo { duration: None, x: x.round(), y: y.round() })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    browser.perform_actions(hand).await.unwrap();
    browser.release_actions().await.unwrap();
}

/// Moves the pointer over the element matching `css`.
pub(crate) async fn hover(browser: &Client, css: &str) {
    let el = browser.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap();
    let hand = MouseActions::new("hand".into()).then(PointerAction::MoveToElement {
        element: el,
        duration: None,
        x: 0.0,
        y: 0.0,
    });
    browser.perform_actions(hand).await.unwrap();
    browser.release_actions().await.unwrap();
}

pub(crate) async fn act<F, Fut>(browser: &Client, css: &str, action: F)
where
    F: Fn(fantoccini::elements::Element) -> Fut,
    Fut: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
{
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let el = browser.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap();
        match action(el).await {
            Ok(()) => return,
            Err(e) if e.to_string().contains("stale") && std::time::Instant::now() < deadline => {}
            Err(e) => panic!("{css}: {e}"),
        }
    }
}
