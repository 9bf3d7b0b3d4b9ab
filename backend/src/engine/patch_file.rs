//! Patches saved as JSON, with the values of inlets and persistent states.
//! (OSW left saving to its clients; Patchbay does it.)
//!
//! Loading builds the whole patch in a scratch engine first, so a malformed
//! or hostile file fails with a clear error and leaves the running patch
//! untouched.

use std::collections::BTreeMap;

use super::graph::{Kind, Node, NodeId, ROOT};
use super::{Engine, EngineError, Value};

pub use patchbay_shared::engine::{Body, ConnectionFile, PatchFile, TransformFile, FORMAT, VERSION};

/// The values of a transform's that a file keeps: its control inlets' and its
/// writable persistent states', where they hold one (not Nil, not a bang).
pub(super) fn saved_values(n: &Node) -> BTreeMap<String, Value> {
    n.ports
        .iter()
        .enumerate()
        .filter(|(_, p)| (p.is_inlet() && !p.is_audio()) || (p.is_persistent() && p.writable))
        .filter(|(i, _)| !matches!(n.values[*i], Value::Nil | Value::Bang))
        .map(|(i, p)| (p.name.clone(), n.values[i].clone()))
        .collect()
}

/// Limits that keep a hostile file from exhausting the server.
const MAX_TRANSFORMS: usize = 20_000;
const MAX_DEPTH: usize = 16;
const MAX_ARGS: usize = 4096;

/// The running `/patch` as a file.
pub fn save(engine: &Engine) -> PatchFile {
    let body = save_body(engine, ROOT);
    PatchFile {
        format: FORMAT.into(),
        version: VERSION,
        transforms: body.transforms,
        connections: body.connections,
    }
}

fn save_body(engine: &Engine, patch: NodeId) -> Body {
    let g = &engine.graph;
    let prefix = format!("{}/", g.path(patch));
    let node = &g.nodes[&patch];
    let transforms = node
        .children
        .values()
        .map(|&id| {
            let n = &g.nodes[&id];
            let values = saved_values(n);
            let patch = (n.kind == Kind::Patch).then(|| save_body(engine, id));
            let renamed =
                n.renamed.iter().map(|(&i, original)| (original.clone(), n.ports[i].name.clone())).collect();
            TransformFile {
                name: n.name.clone(),
                type_name: n.type_name.clone(),
                args: n.args.clone(),
                renamed,
                values,
                patch,
                layout: n.layout,
            }
        })
        .collect();
    let mut connections: Vec<(u64, ConnectionFile)> = g
        .connections()
        .filter(|c| g.patch_of(c.from) == Some(patch))
        .map(|c| {
            let rel = |end| g.port_path(end).strip_prefix(&prefix).unwrap_or_default().to_owned();
            (c.seq, ConnectionFile { from: rel(c.from), to: rel(c.to) })
        })
        .collect();
    connections.sort_by_key(|(seq, _)| *seq);
    Body { transforms, connections: connections.into_iter().map(|(_, c)| c).collect() }
}

/// Replaces `/patch` with the file's contents, or changes nothing and says why.
pub fn load(engine: &mut Engine, file: &PatchFile) -> Result<(), EngineError> {
    let body = Body { transforms: file.transforms.clone(), connections: file.connections.clone() };
    let mut count = 0;
    check(&body, 0, &mut count)?;
    let mut scratch = engine.scratch();
    build(&mut scratch, "/patch", &body)?;
    engine.replace_graph(scratch);
    Ok(())
}

fn check(body: &Body, depth: usize, count: &mut usize) -> Result<(), EngineError> {
    if depth > MAX_DEPTH {
        return Err(EngineError::File(format!("subpatches nest deeper than {MAX_DEPTH}")));
    }
    *count += body.transforms.len();
    if *count > MAX_TRANSFORMS {
        return Err(EngineError::File(format!("more than {MAX_TRANSFORMS} transforms")));
    }
    for t in &body.transforms {
        if t.args.len() > MAX_ARGS {
            return Err(EngineError::File(format!(
                "{}: arguments longer than {MAX_ARGS} characters",
                t.name
            )));
        }
        if t.patch.is_some() && t.type_name != "Patch" {
            return Err(EngineError::File(format!("{}: only a Patch has members", t.name)));
        }
        if let Some(inner) = &t.patch {
            check(inner, depth + 1, count)?;
        }
    }
    Ok(())
}

fn build(engine: &mut Engine, at: &str, body: &Body) -> Result<(), EngineError> {
    let context = |what: &str, e: EngineError| EngineError::File(format!("{what}: {e}"));
    for t in &body.transforms {
        let here = format!("{at}/{}", t.name);
        engine.add_transform(at, &t.type_name, &t.name, &t.args).map_err(|e| context(&here, e))?;
        // Through a passing name first, so that swapped names load too.
        for (i, original) in t.renamed.keys().enumerate() {
            let port = format!("{here}/{original}");
            engine.rename_port(&port, &format!("renaming~{i}")).map_err(|e| context(&port, e))?;
        }
        for (i, name) in t.renamed.values().enumerate() {
            let port = format!("{here}/renaming~{i}");
            engine.rename_port(&port, name).map_err(|e| context(&format!("{here}/{name}"), e))?;
        }
        if let Some(l) = t.layout {
            engine.set_layout(&here, l.x, l.y).map_err(|e| context(&here, e))?;
        }
        if let Some(inner) = &t.patch {
            build(engine, &here, inner)?;
        }
    }
    for c in &body.connections {
        let (from, to) = (format!("{at}/{}", c.from), format!("{at}/{}", c.to));
        engine.connect(&from, &to).map_err(|e| context(&format!("{} -> {}", c.from, c.to), e))?;
    }
    // Values last, without activating: loading must not fire bangs or
    // counters. Only switches marked `resume` (a running Metro) start again.
    let mut resume = vec![];
    for t in &body.transforms {
        for (port, value) in &t.values {
            let path = format!("{at}/{}/{port}", t.name);
            engine.restore_value(&path, value.clone()).map_err(|e| context(&path, e))?;
            if let Ok(super::graph::Target::Port(id, p)) = engine.graph.resolve(&path) {
                if engine.graph.nodes[&id].ports[p].resume && value.is_true() {
                    resume.push((path, value.clone()));
                }
            }
        }
    }
    for (path, value) in resume {
        engine.set_value(&path, value).map_err(|e| context(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::library::testing::SETUP;
    use patchbay_shared::engine::{Change, Layout};

    fn sample(e: &mut Engine) {
        e.add_transform("/patch", "Sinewave", "sin0", "440").unwrap();
        e.add_transform("/patch", "AudioOutput", "out", "").unwrap();
        e.add_transform("/patch", "Patch", "sub", "").unwrap();
        e.add_transform("/patch/sub", "Inlet", "in0", "Samples").unwrap();
        e.add_transform("/patch/sub", "Gain~", "g", "0.5").unwrap();
        e.add_transform("/patch/sub", "Outlet", "out0", "Samples").unwrap();
        e.add_transform("/patch", "Counter", "n", "0 9").unwrap();
        e.connect("/patch/sin0/samplesOut", "/patch/sub/in0").unwrap();
        e.connect("/patch/sub/in0", "/patch/sub/g/samplesIn").unwrap();
        e.connect("/patch/sub/g/samplesOut", "/patch/sub/out0").unwrap();
        e.connect("/patch/sub/out0", "/patch/out/mix").unwrap();
        e.set_value("/patch/sin0/freq", Value::Float(220.0)).unwrap();
        e.set_value("/patch/out/onoff", Value::Boolean(true)).unwrap();
        e.set_value("/patch/n/count", Value::Integer(7)).unwrap();
    }

    #[test]
    fn save_then_load_round_trips_structure_values_and_persistent_states() {
        let (mut e, _a) = Engine::new(SETUP);
        sample(&mut e);
        let saved = save(&e);
        let json = saved.to_json();
        let (mut f, _b) = Engine::new(SETUP);
        load(&mut f, &PatchFile::parse(&json).unwrap()).unwrap();
        assert_eq!(save(&f), saved);
        assert_eq!(f.current_value("/patch/sin0/freq").unwrap(), Value::Float(220.0));
        assert_eq!(f.current_value("/patch/n/count").unwrap(), Value::Integer(7));
        assert!(json.contains(r#""from": "sub/out0/out""#), "{json}");
    }

    #[test]
    fn layouts_are_announced_saved_and_loaded_and_bad_ones_refused() {
        let (mut e, _a) = Engine::new(SETUP);
        sample(&mut e);
        e.take_changes();
        e.set_layout("/patch/sin0", 40.0, 20.0).unwrap();
        e.set_layout("/patch/sub/g", -10.5, 300.0).unwrap();
        let moved = Change::Moved { path: "/patch/sin0".into(), layout: Layout { x: 40.0, y: 20.0 } };
        assert_eq!(e.take_changes().first(), Some(&moved));
        assert_eq!(e.set_layout("/patch", 1.0, 1.0), Err(EngineError::InvalidAddress), "the root has no box");
        assert_eq!(e.set_layout("/patch/sin0/freq", 1.0, 1.0), Err(EngineError::InvalidAddress));
        assert_eq!(e.set_layout("/patch/sin0", f64::INFINITY, 1.0), Err(EngineError::BadLayout));
        assert_eq!(e.set_layout("/patch/sin0", 0.0, -2.0e6), Err(EngineError::BadLayout));
        let json = save(&e).to_json();
        assert!(json.contains(r#""layout": {"#), "{json}");
        let (mut f, _b) = Engine::new(SETUP);
        load(&mut f, &PatchFile::parse(&json).unwrap()).unwrap();
        assert_eq!(save(&f), save(&e));
        let inner = save(&f).transforms.into_iter().find(|t| t.name == "sub").unwrap().patch.unwrap();
        assert_eq!(
            inner.transforms.iter().find(|t| t.name == "g").unwrap().layout,
            Some(Layout { x: -10.5, y: 300.0 })
        );
        // A file with a layout out of bounds loads nothing.
        let bad = json.replacen("40.0", "1e300", 1);
        let (mut g, _c) = Engine::new(SETUP);
        assert!(load(&mut g, &PatchFile::parse(&bad).unwrap()).is_err(), "{bad}");
    }

    #[test]
    fn renamed_ports_keep_connections_values_and_survive_save_and_load() {
        let (mut e, _a) = Engine::new(SETUP);
        e.add_transform("/patch", "Sinewave", "s", "").unwrap();
        e.add_transform("/patch", "AudioOutput", "out", "").unwrap();
        e.connect("/patch/s/samplesOut", "/patch/out/mix").unwrap();
        e.set_value("/patch/s/freq", Value::Float(330.0)).unwrap();
        e.rename_port("/patch/s/freq", "pitch").unwrap();
        // Swapped names must load too.
        e.rename_port("/patch/s/samplesOut", "tmp").unwrap();
        e.rename_port("/patch/s/phase", "samplesOut").unwrap();
        e.rename_port("/patch/s/tmp", "phase").unwrap();
        assert_eq!(e.current_value("/patch/s/pitch").unwrap(), Value::Float(330.0), "the value stays");
        assert!(e.current_value("/patch/s/freq").is_err(), "the old name is gone");
        assert_eq!(e.graph().connections().count(), 1, "the connection stays");
        assert_eq!(e.rename_port("/patch/s/pitch", "phase"), Err(EngineError::NameTaken("phase".into())));
        assert_eq!(e.rename_port("/patch/s/pitch", "connect"), Err(EngineError::NameTaken("connect".into())));
        assert!(e.rename_port("/patch/s/pitch", "a b").is_err());
        let saved = save(&e);
        let json = saved.to_json();
        assert!(json.contains(r#""freq": "pitch""#), "{json}");
        let (mut f, _b) = Engine::new(SETUP);
        load(&mut f, &PatchFile::parse(&json).unwrap()).unwrap();
        assert_eq!(save(&f), saved, "round trip");
        assert_eq!(f.current_value("/patch/s/pitch").unwrap(), Value::Float(330.0));
        let c = f.graph().connections().next().map(|c| f.graph().port_path(c.from));
        assert_eq!(c.as_deref(), Some("/patch/s/phase"), "the connection follows the port, not the name");
        // Back to its own name: no rename is kept.
        f.rename_port("/patch/s/pitch", "freq").unwrap();
        assert!(!save(&f).to_json().contains("pitch"));
    }

    #[test]
    fn loading_activates_nothing_but_a_running_metro_runs_again() {
        let (mut e, _a) = Engine::new(SETUP);
        sample(&mut e);
        e.add_transform("/patch", "Metro", "m", "10").unwrap();
        e.connect("/patch/m/bang", "/patch/n/bang").unwrap();
        e.set_value("/patch/m/onoff", Value::Boolean(true)).unwrap();
        assert_eq!(e.current_value("/patch/n/count").unwrap(), Value::Integer(8));
        let (mut f, _b) = Engine::new(SETUP);
        load(&mut f, &save(&e)).unwrap();
        // The count was restored as 8, then the resumed Metro banged once at once.
        assert_eq!(f.current_value("/patch/n/count").unwrap(), Value::Integer(9));
        assert!(f.next_timer().is_some(), "and keeps ticking");
    }

    #[test]
    fn a_metro_loaded_late_keeps_its_pace_from_then() {
        let (mut f, mut b) = Engine::new(SETUP);
        for _ in 0..750 {
            b.tick(); // one second of engine time before the load
        }
        let file = r#"{"format": "patchbay-patch", "version": 1, "transforms": [
            {"name": "m", "type": "Metro", "args": "10", "values": {"onoff": {"type": "Boolean", "value": true}}},
            {"name": "p", "type": "Print", "args": "tick"}],
            "connections": [{"from": "m/bang", "to": "p/in"}]}"#;
        load(&mut f, &PatchFile::parse(file).unwrap()).unwrap();
        f.run_timers(f.now());
        // A Metro timed by a clock of its own from zero banged a second's
        // hundred ticks at once here, and its first bang was lost.
        assert_eq!(f.take_log(), vec!["/patch/p: tick: bang"]);
        let next = f.next_timer().unwrap();
        assert!((next - f.now() - 0.01).abs() < 1e-9, "next tick 10 ms on: {next} at {}", f.now());
    }

    #[test]
    fn a_loaded_patch_sounds_like_the_saved_one() {
        let (mut e, mut a) = Engine::new(SETUP);
        sample(&mut e);
        let (mut f, mut b) = Engine::new(SETUP);
        load(&mut f, &save(&e)).unwrap();
        for _ in 0..20 {
            e.pump();
            f.pump();
            a.tick();
            b.tick();
        }
        assert_eq!(a.channel(0), b.channel(0));
        assert!(a.channel(0).iter().any(|x| x.abs() > 0.1), "and it is not silence");
    }

    #[test]
    fn malformed_and_hostile_files_fail_clearly_and_change_nothing() {
        let (mut e, _a) = Engine::new(SETUP);
        sample(&mut e);
        let before = save(&e);
        let base = r#""format": "patchbay-patch", "version": 1"#;
        let cases = [
            ("{", "EOF"),
            (r#"{"format": "other", "version": 1}"#, "not a patchbay-patch"),
            (
                &format!(r#"{{{base}, "transforms": [{{"name": "a", "type": "Nope"}}]}}"#),
                "Unknown transform type",
            ),
            (&format!(r#"{{{base}, "transforms": [{{"name": "a/b", "type": "+"}}]}}"#), "Invalid name"),
            (
                &format!(r#"{{{base}, "transforms": [{{"name": "a", "type": "+", "bogus": 1}}]}}"#),
                "unknown field",
            ),
            (
                &format!(
                    r#"{{{base}, "transforms": [{{"name": "a", "type": "+", "values": {{"b": {{"type": "String", "value": "x"}}}}}}]}}"#
                ),
                "incompatible",
            ),
            (
                &format!(
                    r#"{{{base}, "transforms": [{{"name": "a", "type": "Sinewave"}}], "connections": [{{"from": "a/samplesOut", "to": "a/freq"}}]}}"#
                ),
                "Cannot connect",
            ),
            (
                &format!(
                    r#"{{{base}, "transforms": [{{"name": "a", "type": "DelayLine", "args": "10 9999999"}}]}}"#
                ),
                "at most 60000",
            ),
        ];
        for (json, why) in cases {
            let err = PatchFile::parse(json)
                .map_err(EngineError::from)
                .and_then(|f| load(&mut e, &f))
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{json}: {err}");
            assert_eq!(save(&e), before, "{json} changed the patch");
        }
        let mut deep = String::from("[]");
        for _ in 0..20 {
            deep = format!(r#"[{{"name": "p", "type": "Patch", "patch": {{"transforms": {deep}}}}}]"#);
        }
        let err = PatchFile::parse(&format!(r#"{{{base}, "transforms": {deep}}}"#))
            .map_err(EngineError::from)
            .and_then(|f| load(&mut e, &f));
        assert!(err.unwrap_err().to_string().contains("nest deeper"));
        assert_eq!(save(&e), before);
    }
}
