//! `/v1/projects/{project_id}/vpcs/vms...` routes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use patchbay_shared::{CaptureFile, CaptureStart, Nio, Vm, VmCreate, VmUpdate};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{JsonBody, NioBody, NoFields, Params};
use super::Shared;

pub(crate) fn ids(p: &Params) -> Result<(Uuid, Uuid), ApiError> {
    Ok((p.uuid("project_id")?, p.uuid("vm_id")?))
}

pub(crate) async fn list(State(s): State<Shared>, p: Params) -> Result<Json<Vec<Vm>>, ApiError> {
    Ok(Json(s.app.model.lab.list_vms(p.uuid("project_id")?)?))
}

pub(crate) async fn create(
    State(s): State<Shared>,
    p: Params,
    JsonBody(req): JsonBody<VmCreate>,
) -> Result<(StatusCode, Json<Vm>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.app.model.lab.create_vm(p.uuid("project_id")?, req).await?)))
}

pub(crate) async fn show(State(s): State<Shared>, p: Params) -> Result<Json<Vm>, ApiError> {
    let (project, vm) = ids(&p)?;
    Ok(Json(s.app.model.lab.get_vm(project, vm).await?))
}

pub(crate) async fn update(
    State(s): State<Shared>,
    p: Params,
    JsonBody(req): JsonBody<VmUpdate>,
) -> Result<Json<Vm>, ApiError> {
    let (project, vm) = ids(&p)?;
    Ok(Json(s.app.model.lab.update_vm(project, vm, req).await?))
}

pub(crate) async fn delete(State(s): State<Shared>, p: Params) -> Result<StatusCode, ApiError> {
    let (project, vm) = ids(&p)?;
    s.app.model.lab.delete_vm(project, vm).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn start(
    State(s): State<Shared>,
    p: Params,
    _: JsonBody<NoFields>,
) -> Result<StatusCode, ApiError> {
    let (project, vm) = ids(&p)?;
    s.app.model.lab.start_vm(project, vm).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn stop(
    State(s): State<Shared>,
    p: Params,
    _: JsonBody<NoFields>,
) -> Result<StatusCode, ApiError> {
    let (project, vm) = ids(&p)?;
    s.app.model.lab.stop_vm(project, vm).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn reload(
    State(s): State<Shared>,
    p: Params,
    _: JsonBody<NoFields>,
) -> Result<StatusCode, ApiError> {
    let (project, vm) = ids(&p)?;
    s.app.model.lab.reload_vm(project, vm).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn add_nio(
    State(s): State<Shared>,
    p: Params,
    NioBody(nio): NioBody,
) -> Result<(StatusCode, Json<Nio>), ApiError> {
    let (project, vm) = ids(&p)?;
    let (adapter, port) = (p.number("adapter_number")?, p.number("port_number")?);
    let nio = s.app.model.lab.add_nio(project, vm, adapter, port, nio).await?;
    Ok((StatusCode::CREATED, Json(nio)))
}

pub(crate) async fn remove_nio(State(s): State<Shared>, p: Params) -> Result<StatusCode, ApiError> {
    let (project, vm) = ids(&p)?;
    let (adapter, port) = (p.number("adapter_number")?, p.number("port_number")?);
    s.app.model.lab.remove_nio(project, vm, adapter, port).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn start_capture(
    State(s): State<Shared>,
    p: Params,
    JsonBody(req): JsonBody<CaptureStart>,
) -> Result<Json<CaptureFile>, ApiError> {
    let (project, vm) = ids(&p)?;
    let (adapter, port) = (p.number("adapter_number")?, p.number("port_number")?);
    let pcap_file_path = s.app.model.lab.start_capture(project, vm, adapter, port, req).await?;
    Ok(Json(CaptureFile { pcap_file_path }))
}

pub(crate) async fn stop_capture(
    State(s): State<Shared>,
    p: Params,
    _: JsonBody<NoFields>,
) -> Result<StatusCode, ApiError> {
    let (project, vm) = ids(&p)?;
    let (adapter, port) = (p.number("adapter_number")?, p.number("port_number")?);
    s.app.model.lab.stop_capture(project, vm, adapter, port).await?;
    Ok(StatusCode::NO_CONTENT)
}
