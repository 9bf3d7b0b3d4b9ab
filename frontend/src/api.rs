//! Typed calls to the server's `/v1` API. Errors come back as the server's
//! own message, ready to show.

use gloo_net::http::{Request, Response};
use patchbay_shared::{ErrorBody, Project, ProjectCreate, Vm, VmCreate};
use serde::de::DeserializeOwned;
use uuid::Uuid;

pub type ApiResult<T> = Result<T, String>;

async fn read<T: DeserializeOwned>(res: Result<Response, gloo_net::Error>) -> ApiResult<T> {
    let res = check(res).await?;
    res.json().await.map_err(|e| e.to_string())
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
    read(Request::get("/v1/projects").send().await).await
}

pub async fn create_project(name: String) -> ApiResult<Project> {
    let body = ProjectCreate { name: Some(name), ..Default::default() };
    let req = Request::post("/v1/projects").json(&body).map_err(|e| e.to_string())?;
    read(req.send().await).await
}

pub async fn delete_project(id: Uuid) -> ApiResult<()> {
    check(Request::delete(&format!("/v1/projects/{id}")).send().await).await.map(drop)
}

pub async fn vms(project: Uuid) -> ApiResult<Vec<Vm>> {
    read(Request::get(&format!("/v1/projects/{project}/vpcs/vms")).send().await).await
}

pub async fn create_vm(project: Uuid, name: String) -> ApiResult<Vm> {
    let body = VmCreate { name, ..Default::default() };
    let req =
        Request::post(&format!("/v1/projects/{project}/vpcs/vms")).json(&body).map_err(|e| e.to_string())?;
    read(req.send().await).await
}

/// `start`, `stop` or `reload`.
pub async fn vm_action(project: Uuid, vm: Uuid, action: &str) -> ApiResult<()> {
    let url = format!("/v1/projects/{project}/vpcs/vms/{vm}/{action}");
    check(Request::post(&url).send().await).await.map(drop)
}

pub async fn delete_vm(project: Uuid, vm: Uuid) -> ApiResult<()> {
    check(Request::delete(&format!("/v1/projects/{project}/vpcs/vms/{vm}")).send().await).await.map(drop)
}
