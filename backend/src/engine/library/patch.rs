//! Subpatches and their borders. A Patch is a transform that contains
//! transforms; its Inlet and Outlet members become its ports as seen from
//! the enclosing patch (connect to `/patch/sub/in0` from outside, and from
//! `/patch/sub/in0` inside).

use super::{Args, TypeEntry};
use crate::engine::transform::{Built, DspNode, PortSpec};
use crate::engine::value::ValueType as T;

/// Audio through a border: copies its input.
struct Pass;

impl DspNode for Pass {
    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        out.copy_from_slice(&inputs[..out.len()]);
    }
}

fn border_type(args: &Args) -> Result<T, String> {
    Ok(match args.word(0).as_deref() {
        None | Some("Any") => T::Any,
        Some("Float") => T::Float,
        Some("Integer") => T::Integer,
        Some("Boolean") => T::Boolean,
        Some("String") => T::String,
        Some("List") => T::List,
        Some("Bang") => T::Bang,
        Some("Samples") => T::Samples,
        Some(w) => {
            return Err(format!(
                "unknown type {w:?} (Any, Float, Integer, Boolean, String, List, Bang or Samples)"
            ))
        }
    })
}

fn border(in_doc: &str, out_doc: &str, args: &Args) -> Result<Built, String> {
    let ty = border_type(args)?;
    let ports = vec![PortSpec::hot("in", ty, in_doc), PortSpec::outlet("out", ty, out_doc)];
    let built = Built::new(ports);
    Ok(if ty == T::Samples { built.dsp(Pass) } else { built })
}

pub(crate) fn entries() -> Vec<TypeEntry> {
    vec![
        TypeEntry::new(
            "Patch",
            "patch",
            "A container of transforms (a subpatch); add Inlet and Outlet members to give it ports",
            |_: &Args| Ok(Built::new(vec![])),
        ),
        TypeEntry::new(
            "Inlet",
            "patch",
            "A subpatch's inlet (argument: type, default Any; Samples for audio)",
            |args: &Args| border("Fed from the enclosing patch", "Feeds the subpatch's members", args),
        ),
        TypeEntry::new(
            "Outlet",
            "patch",
            "A subpatch's outlet (argument: type, default Any; Samples for audio)",
            |args: &Args| border("Fed by the subpatch's members", "Feeds the enclosing patch", args),
        ),
    ]
}
