//! What the engine refuses, worded as seed 001's replies where it has one.

use super::activation::{MAX_ACTIVATIONS, MAX_DEPTH, MAX_PROPAGATION};
use super::ValueType;

/// Errors, worded as seed 001's replies where it has one.
// Each variant's `#[error]` text is its documentation.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("Invalid address")]
    InvalidAddress,
    #[error("Cannot set incompatible data type")]
    Incompatible,
    #[error("Target object is not an OSW state.")]
    NotAState,
    #[error("Address does not have a readable type")]
    NotReadable,
    #[error("State is read-only")]
    ReadOnly,
    #[error("Not a patch")]
    NotAPatch,
    #[error("Unknown transform type {0:?}")]
    UnknownType(String),
    #[error("Bad arguments for {0}: {1}")]
    BadArguments(String, String),
    #[error("Invalid name {0:?}: use letters, digits, '_', '-' or '.', at most 64")]
    BadName(String),
    #[error("The name {0:?} is already taken in this patch")]
    NameTaken(String),
    #[error("{0} is not an outlet")]
    NotAnOutlet(String),
    #[error("{0} is not an inlet")]
    NotAnInlet(String),
    #[error("Cannot connect {from} to {to}: they are in different patches")]
    DifferentPatches { from: String, to: String },
    #[error("Cannot connect a {from} outlet to a {to} inlet")]
    TypeMismatch { from: ValueType, to: ValueType },
    #[error("Already connected")]
    AlreadyConnected,
    #[error("Not connected")]
    NotConnected,
    #[error("That connection would make an audio loop")]
    AudioLoop,
    #[error("Inlet and Outlet transforms belong in a subpatch")]
    BorderAtRoot,
    #[error("Not a finite number: NaN and infinities are refused")]
    NotFinite,
    #[error("Control loop: more than {MAX_DEPTH} activations deep")]
    TooDeep,
    #[error(
        "Control propagation over budget: more than {MAX_ACTIVATIONS} activations or {} ms from one event",
        MAX_PROPAGATION.as_millis()
    )]
    OverBudget,
    #[error("Patch file: {0}")]
    File(String),
    #[error("A layout is two numbers within ±{}", patchbay_shared::engine::Layout::LIMIT)]
    BadLayout,
}

impl From<patchbay_shared::engine::PatchFileError> for EngineError {
    fn from(e: patchbay_shared::engine::PatchFileError) -> Self {
        EngineError::File(e.0)
    }
}
