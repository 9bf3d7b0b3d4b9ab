//! Typed calls to the server's `/v1` API. Errors come back as the server's
//! own message, ready to show.

use gloo_net::http::{Request, RequestBuilder, Response};

use crate::auth::with_token;
use patchbay_shared::engine::{PatchFile, TypeInfo};
use patchbay_shared::patch_ports::PortMap;
use patchbay_shared::topology::Attachment;
use patchbay_shared::{
    CaptureStart, ErrorBody, Nio, Project, ProjectCreate, Switch, SwitchCreate, UdpPort, Vm, VmCreate,
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

pub type ApiResult<T> = Result<T, String>;

fn get(url: &str) -> RequestBuilder {
    with_token(Request::get(url))
}

fn post(url: &str) -> RequestBuilder {
    with_token(Request::post(url))
}

fn delete(url: &str) -> RequestBuilder {
    with_token(Request::delete(url))
}

async fn read<T: DeserializeOwned>(res: Result<Response, gloo_net::Error>) -> ApiResult<T> {
    let res = check(res).await?;
    // Bytes, not text: copied into the wasm at once, where a string is
    // converted character by character (and one JSON reader serves all).
    let bytes = res.binary().await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

async fn check(res: Result<Response, gloo_net::Error>) -> ApiResult<Response> {
    let res = res.map_err(|e| format!("cannot reach the server: {e}"))?;
    if res.ok() {
        return Ok(res);
    }
    match res.json::<ErrorBody>().await {
        Ok(body) => Err(format!("{} ({})", body.message, body.status)),
        Err(_) => Err(format!("HTTP {}", res.status())),
    }
}

pub async fn projects() -> ApiResult<Vec<Project>> {
    read(get("/v1/projects").send().await).await
}

pub async fn create_project(name: String) -> ApiResult<Project> {
    let body = ProjectCreate { name: Some(name), ..Default::default() };
    let req = post("/v1/projects").json(&body).map_err(|e| e.to_string())?;
    read(req.send().await).await
}

pub async fn delete_project(id: Uuid) -> ApiResult<()> {
    check(delete(&format!("/v1/projects/{id}")).send().await).await.map(drop)
}

pub async fn vms(project: Uuid) -> ApiResult<Vec<Vm>> {
    read(get(&format!("/v1/projects/{project}/vpcs/vms")).send().await).await
}

/// A new PC whose console goes by its name, as GNS3's client makes them
/// (`set pcname %h`, which the server fills in).
pub async fn create_vm(project: Uuid, name: String) -> ApiResult<Vm> {
    let body = VmCreate { name, startup_script: Some("set pcname %h\n".into()), ..Default::default() };
    let req = post(&format!("/v1/projects/{project}/vpcs/vms")).json(&body).map_err(|e| e.to_string())?;
    read(req.send().await).await
}

/// `start`, `stop` or `reload`.
pub async fn vm_action(project: Uuid, vm: Uuid, action: &str) -> ApiResult<()> {
    let url = format!("/v1/projects/{project}/vpcs/vms/{vm}/{action}");
    check(post(&url).send().await).await.map(drop)
}

pub async fn delete_vm(project: Uuid, vm: Uuid) -> ApiResult<()> {
    check(delete(&format!("/v1/projects/{project}/vpcs/vms/{vm}")).send().await).await.map(drop)
}

pub async fn switches(project: Uuid) -> ApiResult<Vec<Switch>> {
    read(get(&format!("/v1/projects/{project}/switches/vms")).send().await).await
}

pub async fn create_switch(project: Uuid, name: String) -> ApiResult<Switch> {
    let body = SwitchCreate { name, ..Default::default() };
    let url = format!("/v1/projects/{project}/switches/vms");
    read(post(&url).json(&body).map_err(|e| e.to_string())?.send().await).await
}

/// `start` or `stop`.
pub async fn switch_action(project: Uuid, switch: Uuid, action: &str) -> ApiResult<()> {
    let url = format!("/v1/projects/{project}/switches/vms/{switch}/{action}");
    check(post(&url).send().await).await.map(drop)
}

pub async fn delete_switch(project: Uuid, switch: Uuid) -> ApiResult<()> {
    check(delete(&format!("/v1/projects/{project}/switches/vms/{switch}")).send().await).await.map(drop)
}

/// Moves a PC or a switch on the canvas (its `x`, `y` on the server).
pub async fn place(project: Uuid, node: Uuid, switch: bool, x: i32, y: i32) -> ApiResult<()> {
    let kind = if switch { "switches" } else { "vpcs" };
    let url = format!("/v1/projects/{project}/{kind}/vms/{node}");
    let req = with_token(Request::put(&url)).json(&serde_json::json!({ "x": x, "y": y }));
    check(req.map_err(|e| e.to_string())?.send().await).await.map(drop)
}

/// Starts writing a PC's traffic to `file` in its project's captures.
pub async fn start_capture(project: Uuid, vm: Uuid, file: String) -> ApiResult<()> {
    let url = format!("/v1/projects/{project}/vpcs/vms/{vm}/adapters/0/ports/0/start_capture");
    let body = CaptureStart { capture_file_name: file, data_link_type: None };
    check(post(&url).json(&body).map_err(|e| e.to_string())?.send().await).await.map(drop)
}

pub async fn stop_capture(project: Uuid, vm: Uuid) -> ApiResult<()> {
    let url = format!("/v1/projects/{project}/vpcs/vms/{vm}/adapters/0/ports/0/stop_capture");
    check(post(&url).send().await).await.map(drop)
}

/// Links two attachments as a GNS3 client does: a free UDP port for each
/// end from the server, then a tunnel at each end pointing at the other.
/// When the second tunnel is refused the first is removed again, so that a
/// failed link leaves no half behind.
pub async fn link(project: Uuid, a: Attachment, b: Attachment) -> ApiResult<()> {
    let (pa, pb) = (udp_port(project).await?, udp_port(project).await?);
    attach(project, a, &Nio::udp(pa, "127.0.0.1", pb)).await?;
    if let Err(e) = attach(project, b, &Nio::udp(pb, "127.0.0.1", pa)).await {
        return match unlink(project, &[a]).await {
            Ok(()) => Err(e),
            Err(undo) => Err(format!("{e}; the first half stays: {undo}")),
        };
    }
    Ok(())
}

/// Removes the tunnel at each end given.
pub async fn unlink(project: Uuid, ends: &[Attachment]) -> ApiResult<()> {
    for end in ends {
        check(delete(&end.nio_path(project)).send().await).await?;
    }
    Ok(())
}

async fn udp_port(project: Uuid) -> ApiResult<u16> {
    let req = post(&format!("/v1/projects/{project}/ports/udp")).json(&serde_json::json!({}));
    read::<UdpPort>(req.map_err(|e| e.to_string())?.send().await).await.map(|p| p.udp_port)
}

async fn attach(project: Uuid, at: Attachment, nio: &Nio) -> ApiResult<()> {
    let req = post(&at.nio_path(project)).json(nio).map_err(|e| e.to_string())?;
    check(req.send().await).await.map(drop)
}

pub async fn patch() -> ApiResult<PatchFile> {
    read(get("/v1/engine/patch").send().await).await
}

/// The running patch as its file's text, to save.
pub async fn patch_text() -> ApiResult<String> {
    check(get("/v1/engine/patch").send().await).await?.text().await.map_err(|e| e.to_string())
}

/// Replaces the running patch with a patch file's text.
pub async fn load_patch(text: String) -> ApiResult<()> {
    let req = with_token(Request::put("/v1/engine/patch")).header("Content-Type", "application/json");
    let req = req.body(text).map_err(|e| e.to_string())?;
    check(req.send().await).await.map(drop)
}

pub async fn transform_types() -> ApiResult<Vec<TypeInfo>> {
    read(get("/v1/engine/transform-types").send().await).await
}

pub async fn ports() -> ApiResult<PortMap> {
    read(get("/v1/engine/ports").send().await).await
}
