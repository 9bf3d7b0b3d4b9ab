//! The audio side never allocates or frees memory, even while the patch is
//! edited under it: every tick runs under `assert_no_alloc` with a counting
//! global allocator. (Locks and logging would show up here too: both
//! allocate or are absent from `engine::program` and the transforms' DSP code.)

use assert_no_alloc::{assert_no_alloc, reset_violation_count, violation_count, AllocDisabler};

use patchbay::engine::render::step;
use patchbay::engine::Setup;
use patchbay::engine::{AudioSide, Engine, Value};

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

const SETUP: Setup = Setup { rate: 48000.0, block: 64 };

/// Ticks the audio side under the allocation guard and returns how many allocations it made.
fn guarded_ticks(audio: &mut AudioSide, n: usize) -> u32 {
    reset_violation_count();
    assert_no_alloc(|| {
        for _ in 0..n {
            audio.tick();
        }
        let mut device = [0.0f32; 333 * 2]; // an odd size, as cards ask for
        audio.fill(&mut device, 2);
    });
    violation_count()
}

#[test]
fn the_guard_catches_an_allocation() {
    reset_violation_count();
    assert_no_alloc(|| drop(std::hint::black_box(vec![1u8; 10])));
    assert!(violation_count() > 0, "the checker is armed");
}

#[test]
fn every_transform_type_ticks_without_allocating() {
    let (mut engine, mut audio) = Engine::new(SETUP);
    engine.add_transform("/patch", "AudioOutput", "out", "").unwrap();
    engine.add_transform("/patch", "Sinewave", "src", "220").unwrap();
    engine.set_value("/patch/out/onoff", Value::Boolean(true)).unwrap();
    let mut added = 0;
    for (i, t) in patchbay::engine::transform_types().enumerate() {
        if matches!(t.name, "Inlet" | "Outlet") {
            continue;
        }
        let name = format!("t{i}");
        engine.add_transform("/patch", t.name, &name, "").unwrap();
        added += 1;
        let ports = engine.graph().nodes.values().find(|n| n.name == name).unwrap().ports.clone();
        for p in &ports {
            if p.is_inlet() && p.is_audio() {
                engine.connect("/patch/src/samplesOut", &format!("/patch/{name}/{}", p.name)).unwrap();
            }
            if p.is_outlet() && p.is_audio() {
                engine.connect(&format!("/patch/{name}/{}", p.name), "/patch/out/mix").unwrap();
            }
        }
    }
    assert!(added >= 120);
    step(&mut engine, &mut audio); // the first program arrives
    assert_eq!(guarded_ticks(&mut audio, 200), 0, "allocations on the audio side");
    // Timed changes of every transform's values, inside the next blocks:
    // each node that has one runs in pieces (see engine::timed).
    let frame = engine.clock().frames();
    let mut timed = 0;
    let paths: Vec<String> = engine
        .graph()
        .nodes
        .values()
        .filter(|n| n.name.starts_with('t'))
        .flat_map(|n| {
            n.ports
                .iter()
                .filter(|p| !p.is_audio() && !p.is_outlet())
                .map(move |p| format!("/patch/{}/{}", n.name, p.name))
        })
        .collect();
    for (i, path) in paths.iter().enumerate() {
        let Ok(value) = engine.current_value(path) else { continue };
        let at = Some(frame + (i as u64 * 37) % 192);
        if matches!(value, Value::Float(_) | Value::Integer(_) | Value::Boolean(_))
            && engine.at_frame(at, |e| e.set_value(path, value)).is_ok()
        {
            timed += 1;
        }
    }
    assert!(timed >= 100, "{timed} timed changes");
    engine.pump();
    assert_eq!(guarded_ticks(&mut audio, 200), 0, "allocations with timed changes");
    assert_eq!(engine.clock().crowded(), 0);
}

#[test]
fn edits_and_parameter_changes_arrive_without_allocating_on_the_audio_side() {
    let (mut engine, mut audio) = Engine::new(SETUP);
    engine.add_transform("/patch", "AudioOutput", "out", "").unwrap();
    engine.set_value("/patch/out/onoff", Value::Boolean(true)).unwrap();
    engine.pump();
    for round in 0..50 {
        // Control side: allocate freely, build programs, queue parameters and data.
        let name = format!("osc{round}");
        engine.add_transform("/patch", "Sinewave", &name, "100").unwrap();
        engine.connect(&format!("/patch/{name}/samplesOut"), "/patch/out/mix").unwrap();
        engine.set_value(&format!("/patch/{name}/freq"), Value::Float(100.0 + round as f64)).unwrap();
        engine.add_transform("/patch", "Wavetable", &format!("wt{round}"), "").unwrap();
        engine.pump();
        engine
            .set_value(&format!("/patch/wt{round}/table"), Value::List(vec![Value::Float(0.5); 64]))
            .unwrap();
        if round % 3 == 2 {
            engine.delete_transform("/patch", &format!("osc{}", round - 1)).unwrap();
        }
        engine.pump();
        // Audio side: swaps programs, adopts nodes, applies data, returns the old ones.
        assert_eq!(guarded_ticks(&mut audio, 3), 0, "round {round}");
    }
    engine.pump(); // frees what came back, on this (control) side
}
