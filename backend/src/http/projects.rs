//! `/v1/projects...` routes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use patchbay_shared::{Project, ProjectCreate, ProjectUpdate, UdpPort};

use super::error::ApiError;
use super::extract::{JsonBody, NoFields, Params};
use super::Shared;

pub(crate) async fn list(State(s): State<Shared>) -> Json<Vec<Project>> {
    Json(s.app.model.lab.list_projects())
}

pub(crate) async fn create(
    State(s): State<Shared>,
    JsonBody(req): JsonBody<ProjectCreate>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.app.model.lab.create_project(req).await?)))
}

pub(crate) async fn show(State(s): State<Shared>, p: Params) -> Result<Json<Project>, ApiError> {
    Ok(Json(s.app.model.lab.get_project(p.uuid("project_id")?)?))
}

pub(crate) async fn update(
    State(s): State<Shared>,
    p: Params,
    JsonBody(req): JsonBody<ProjectUpdate>,
) -> Result<Json<Project>, ApiError> {
    Ok(Json(s.app.model.lab.update_project(p.uuid("project_id")?, req).await?))
}

pub(crate) async fn delete(State(s): State<Shared>, p: Params) -> Result<StatusCode, ApiError> {
    s.app.model.lab.delete_project(p.uuid("project_id")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn close(
    State(s): State<Shared>,
    p: Params,
    _: JsonBody<NoFields>,
) -> Result<StatusCode, ApiError> {
    s.app.model.lab.close_project(p.uuid("project_id")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../commit`, which GNS3's GUI sends on every save: every change is
/// on disk when it is answered here, so there is nothing left to write.
pub(crate) async fn commit(State(s): State<Shared>, p: Params) -> Result<StatusCode, ApiError> {
    s.app.model.lab.get_project(p.uuid("project_id")?)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn allocate_udp(
    State(s): State<Shared>,
    p: Params,
    _: JsonBody<NoFields>,
) -> Result<(StatusCode, Json<UdpPort>), ApiError> {
    let udp_port = s.app.model.lab.allocate_udp_port(p.uuid("project_id")?).await?;
    Ok((StatusCode::CREATED, Json(UdpPort { udp_port })))
}
