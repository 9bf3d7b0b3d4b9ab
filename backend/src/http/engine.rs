//! The engine over HTTP: its clock, the transform types it can build, the
//! whole patch as a JSON file to read or replace, and every transform's
//! ports for a canvas. (Fine-grained edits are OSC's job.)

use axum::extract::State;
use axum::Json;
use std::collections::BTreeMap;

use patchbay_shared::engine::{EngineStatus, Ports, TypeInfo};

use super::error::ApiError;
use super::Shared;
use crate::engine::device::ClockSource;
use crate::engine::library;
use crate::engine::patch_file::{self, PatchFile};

pub(crate) async fn status(State(state): State<Shared>) -> Json<EngineStatus> {
    let engine = &state.app.model.engine;
    let (clock, clock_detail) = match &engine.source {
        ClockSource::Device { name, .. } => ("device".to_owned(), name.clone()),
        ClockSource::Timer { reason } => ("timer".to_owned(), reason.clone()),
    };
    let (time, transforms, late_changes, crowded_changes) =
        engine.with(|e| (e.now(), e.graph().nodes.len() - 1, e.clock().late_changes(), e.clock().crowded()));
    Json(EngineStatus {
        sample_rate: engine.setup.rate,
        block_size: engine.setup.block,
        clock,
        clock_detail,
        time,
        transforms,
        osc_refused: state.app.model.powers.osc_sources.refused(),
        late_blocks: engine.late_blocks(),
        late_changes,
        crowded_changes,
    })
}

pub(crate) async fn types() -> Json<Vec<TypeInfo>> {
    Json(
        library::all()
            .map(|t| TypeInfo {
                name: t.name.to_owned(),
                category: t.category.to_owned(),
                documentation: t.doc.to_owned(),
            })
            .collect(),
    )
}

/// Every transform's inlets and outlets, by address, for a canvas.
pub(crate) async fn ports(State(state): State<Shared>) -> Json<BTreeMap<String, Ports>> {
    Json(state.app.model.engine.with(|e| e.port_map()))
}

pub(crate) async fn save(State(state): State<Shared>) -> Json<PatchFile> {
    Json(state.app.model.engine.with(|e| patch_file::save(e)))
}

/// Replaces `/patch`. A bad file is a 400 naming the problem, and the running patch is kept.
pub(crate) async fn load(
    State(state): State<Shared>,
    body: axum::body::Bytes,
) -> Result<Json<PatchFile>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("Patch file is not UTF-8"))?;
    let file = PatchFile::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))?;
    state
        .app
        .model
        .engine
        .with(move |e| patch_file::load(e, &file).map(|_| patch_file::save(e)))
        .map(Json)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}
