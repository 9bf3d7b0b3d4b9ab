//! The dashboard's files over HTTP, without a browser: the wasm and JS go
//! gzipped to a client that takes gzip (and plain to one that does not),
//! files named by their content hash are cached for good, the page itself
//! is checked again each time.

mod common;

use std::process::Command;

const WASM: &str = "app-0123456789abcdef_bg.wasm";

/// A dist/ as Trunk and its hook leave it: a page, a wasm and its gzip twin.
fn fake_dist(dir: &std::path::Path) -> Vec<u8> {
    std::fs::write(dir.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    let wasm: Vec<u8> = (0..50_000u32).flat_map(|i| (i % 7).to_le_bytes()).collect();
    std::fs::write(dir.join(WASM), &wasm).unwrap();
    let status = Command::new("gzip").args(["-9", "-k"]).arg(dir.join(WASM)).status().expect("gzip runs");
    assert!(status.success());
    wasm
}

#[tokio::test]
async fn the_wasm_goes_gzipped_to_who_takes_gzip_and_hashed_files_are_kept_for_good() {
    let dist = tempfile::tempdir().unwrap();
    let wasm = fake_dist(dist.path());
    let gz = std::fs::read(dist.path().join(format!("{WASM}.gz"))).unwrap();
    assert!(gz.len() < wasm.len() / 4, "the fake wasm compresses");
    let server = common::TempServer::start(&[&format!("--dashboard={}", dist.path().display())]).await;
    let client = reqwest::Client::new();

    let zipped = client
        .get(server.url(&format!("/{WASM}")))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    };
    assert_eq!(header(&zipped, "content-encoding"), "gzip");
    assert_eq!(header(&zipped, "content-type"), "application/wasm");
    assert_eq!(header(&zipped, "cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(header(&zipped, "vary"), "accept-encoding");
    assert_eq!(zipped.bytes().await.unwrap().as_ref(), gz.as_slice());

    let plain = client.get(server.url(&format!("/{WASM}"))).send().await.unwrap();
    assert_eq!(header(&plain, "content-encoding"), "");
    assert_eq!(plain.bytes().await.unwrap().as_ref(), wasm.as_slice());

    let page = client.get(server.url("/")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "cache-control"), "no-cache", "a new build is seen at once");
    assert_eq!(header(&page, "content-encoding"), "", "no twin: sent as it is");

    let missing = client.get(server.url("/nothing-0123456789abcdef.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}
