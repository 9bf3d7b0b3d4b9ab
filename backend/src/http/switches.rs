//! `/v1/projects/{project_id}/switches/vms...` routes: the built-in Ethernet switch.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use patchbay_shared::{Nio, Switch, SwitchCreate, SwitchUpdate};

use super::error::ApiError;
use super::extract::{JsonBody, NioBody, NoFields, Params};
use super::vms::ids;
use super::Shared;

pub(crate) async fn list(State(s): State<Shared>, p: Params) -> Result<Json<Vec<Switch>>, ApiError> {
    Ok(Json(s.app.model.lab.list_switches(p.uuid("project_id")?)?))
}

pub(crate) async fn create(
    State(s): State<Shared>,
    p: Params,
    JsonBody(req): JsonBody<SwitchCreate>,
) -> Result<(StatusCode, Json<Switch>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.app.model.lab.create_switch(p.uuid("project_id")?, req).await?)))
}

pub(crate) async fn show(State(s): State<Shared>, p: Params) -> Result<Json<Switch>, ApiError> {
    let (project, id) = ids(&p)?;
    Ok(Json(s.app.model.lab.get_switch(project, id).await?))
}

pub(crate) async fn update(
    State(s): State<Shared>,
    p: Params,
    JsonBody(req): JsonBody<SwitchUpdate>,
) -> Result<Json<Switch>, ApiError> {
    let (project, id) = ids(&p)?;
    Ok(Json(s.app.model.lab.update_switch(project, id, req).await?))
}

pub(crate) async fn delete(State(s): State<Shared>, p: Params) -> Result<StatusCode, ApiError> {
    let (project, id) = ids(&p)?;
    s.app.model.lab.delete_switch(project, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn start(
    State(s): State<Shared>,
    p: Params,
    _: JsonBody<NoFields>,
) -> Result<StatusCode, ApiError> {
    let (project, id) = ids(&p)?;
    s.app.model.lab.start_switch(project, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn stop(
    State(s): State<Shared>,
    p: Params,
    _: JsonBody<NoFields>,
) -> Result<StatusCode, ApiError> {
    let (project, id) = ids(&p)?;
    s.app.model.lab.stop_switch(project, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn add_nio(
    State(s): State<Shared>,
    p: Params,
    NioBody(nio): NioBody,
) -> Result<(StatusCode, Json<Nio>), ApiError> {
    let (project, id) = ids(&p)?;
    let (adapter, port) = (p.number("adapter_number")?, p.number("port_number")?);
    Ok((StatusCode::CREATED, Json(s.app.model.lab.add_switch_nio(project, id, adapter, port, nio).await?)))
}

pub(crate) async fn remove_nio(State(s): State<Shared>, p: Params) -> Result<StatusCode, ApiError> {
    let (project, id) = ids(&p)?;
    let (adapter, port) = (p.number("adapter_number")?, p.number("port_number")?);
    s.app.model.lab.remove_switch_nio(project, id, adapter, port).await?;
    Ok(StatusCode::NO_CONTENT)
}
