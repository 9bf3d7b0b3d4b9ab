//! The engine's own tests: errors, connections, order, subpatches, edits while playing.

use super::library::testing::SETUP;
use super::*;

fn engine() -> (Engine, AudioSide) {
    Engine::new(SETUP)
}

fn tick(e: &mut Engine, a: &mut AudioSide) -> Vec<f32> {
    render::step(e, a);
    a.channel(0).to_vec()
}

#[test]
fn errors_read_as_seed_001_replies() {
    let (mut e, _a) = engine();
    e.add_transform("/patch", "Sinewave", "sine0", "").unwrap();
    let set = |e: &mut Engine, path: &str, v: Value| e.set_value(path, v).unwrap_err().to_string();
    assert_eq!(
        set(&mut e, "/patch/sine0/freq", Value::String("440.0".into())),
        "Cannot set incompatible data type"
    );
    assert_eq!(set(&mut e, "/patch", Value::Nil), "Target object is not an OSW state.");
    assert_eq!(e.current_value("/patch").unwrap_err().to_string(), "Address does not have a readable type");
    assert_eq!(e.current_value("/hello/foo").unwrap_err().to_string(), "Invalid address");
    assert_eq!(e.current_value("/patch/sine0/nope").unwrap_err().to_string(), "Invalid address");
    assert_eq!(e.current_value("/patch/sine0/freq").unwrap(), Value::Float(440.0));
    e.set_value("/patch/sine0/freq", Value::Integer(220)).unwrap();
    assert_eq!(e.current_value("/patch/sine0/freq").unwrap(), Value::Float(220.0), "integers cast to float");
}

#[test]
fn connections_are_checked() {
    let (mut e, _a) = engine();
    for (ty, name) in [("Sinewave", "s"), ("+", "add"), ("Gain~", "g"), ("Patch", "sub")] {
        e.add_transform("/patch", ty, name, "").unwrap();
    }
    e.add_transform("/patch/sub", "Sinewave", "inner", "").unwrap();
    let err = |e: &mut Engine, a: &str, b: &str| e.connect(a, b).unwrap_err().to_string();
    assert_eq!(
        err(&mut e, "/patch/s/samplesOut", "/patch/add/a"),
        "Cannot connect a Samples outlet to a Float inlet"
    );
    assert_eq!(err(&mut e, "/patch/s/freq", "/patch/g/samplesIn"), "/patch/s/freq is not an outlet");
    assert_eq!(err(&mut e, "/patch/s/samplesOut", "/patch/add/out"), "/patch/add/out is not an inlet");
    assert!(err(&mut e, "/patch/sub/inner/samplesOut", "/patch/g/samplesIn").contains("different patches"));
    e.connect("/patch/s/samplesOut", "/patch/g/samplesIn").unwrap();
    assert_eq!(err(&mut e, "/patch/s/samplesOut", "/patch/g/samplesIn"), "Already connected");
    assert_eq!(
        err(&mut e, "/patch/g/samplesOut", "/patch/g/samplesIn"),
        "That connection would make an audio loop"
    );
    e.disconnect("/patch/s/samplesOut", "/patch/g/samplesIn").unwrap();
    assert_eq!(
        e.disconnect("/patch/s/samplesOut", "/patch/g/samplesIn").unwrap_err(),
        EngineError::NotConnected
    );
    e.connect("/patch/add/out", "/patch/s/freq").unwrap(); // Float to Float
    assert_eq!(
        e.add_transform("/patch", "Nope", "x", "").unwrap_err().to_string(),
        "Unknown transform type \"Nope\""
    );
    assert!(matches!(e.add_transform("/patch", "+", "add", ""), Err(EngineError::NameTaken(_))));
    assert!(matches!(e.add_transform("/patch", "+", "a b", ""), Err(EngineError::BadName(_))));
    assert!(matches!(e.add_transform("/patch", "+", "connect", ""), Err(EngineError::NameTaken(_))));
    assert_eq!(e.add_transform("/patch", "Inlet", "i", "").unwrap_err(), EngineError::BorderAtRoot);
    assert_eq!(
        e.add_transform("/patch", "+", "", "").unwrap(),
        "op0",
        "auto names: the type's letters, else op"
    );
    assert_eq!(e.add_transform("/patch", "Sinewave", "", "").unwrap(), "sinewave0");
}

#[test]
fn audio_runs_in_dependency_order_whatever_the_order_of_creation() {
    let (mut e, mut a) = engine();
    // Created sink first, source last: the program must still run source first,
    // so a constant reaches the output in the very same block.
    e.add_transform("/patch", "AudioOutput", "out", "").unwrap();
    e.add_transform("/patch", "Gain~", "g2", "2").unwrap();
    e.add_transform("/patch", "Gain~", "g1", "0.5").unwrap();
    e.add_transform("/patch", "Sig~", "src", "0.25").unwrap();
    e.connect("/patch/g2/samplesOut", "/patch/out/mix").unwrap();
    e.connect("/patch/g1/samplesOut", "/patch/g2/samplesIn").unwrap();
    e.connect("/patch/src/samplesOut", "/patch/g1/samplesIn").unwrap();
    e.set_value("/patch/out/onoff", Value::Boolean(true)).unwrap();
    tick(&mut e, &mut a);
    assert!(tick(&mut e, &mut a).iter().all(|x| *x == 0.25));
}

#[test]
fn fan_in_sums_and_control_fans_out_by_activation_order() {
    let (mut e, mut a) = engine();
    e.add_transform("/patch", "AudioOutput", "out", "").unwrap();
    e.set_value("/patch/out/onoff", Value::Boolean(true)).unwrap();
    for (i, v) in ["0.125", "0.25", "0.5"].iter().enumerate() {
        e.add_transform("/patch", "Sig~", &format!("s{i}"), v).unwrap();
        e.connect(&format!("/patch/s{i}/samplesOut"), "/patch/out/mix").unwrap();
    }
    tick(&mut e, &mut a);
    assert!(tick(&mut e, &mut a).iter().all(|x| *x == 0.875));
    // Once steady, the fan-in is fused into an accumulator: same sum.
    for _ in 0..4 {
        tick(&mut e, &mut a);
    }
    assert!(e.layout.slot_of.len() == 4 && !e.layout.needs_cleanup);
    assert!(tick(&mut e, &mut a).iter().all(|x| *x == 0.875));
    e.set_value("/patch/s1/value", Value::Float(0.0)).unwrap();
    tick(&mut e, &mut a);
    assert!(tick(&mut e, &mut a).iter().all(|x| *x == 0.625), "a fused source still takes parameters");
    // One outlet, two inlets: `b` (order 0) before `a` (order 1), as in Pd's right-to-left.
    e.add_transform("/patch", "Value", "v", "").unwrap();
    e.add_transform("/patch", "+", "add", "").unwrap();
    e.connect("/patch/v/out", "/patch/add/a").unwrap();
    e.connect("/patch/v/out", "/patch/add/b").unwrap();
    e.set_value("/patch/v/in", Value::Float(3.0)).unwrap();
    assert_eq!(e.current_value("/patch/add/out").unwrap(), Value::Float(6.0));
}

#[test]
fn subpatches_pass_control_and_audio_through_their_borders() {
    let (mut e, mut a) = engine();
    e.add_transform("/patch", "Patch", "double", "").unwrap();
    e.add_transform("/patch/double", "Inlet", "x", "Float").unwrap();
    e.add_transform("/patch/double", "*", "times", "2").unwrap();
    e.add_transform("/patch/double", "Outlet", "y", "Float").unwrap();
    e.connect("/patch/double/x", "/patch/double/times/a").unwrap();
    e.connect("/patch/double/times/out", "/patch/double/y").unwrap();
    e.add_transform("/patch", "Value", "src", "").unwrap();
    e.add_transform("/patch", "Value", "dst", "").unwrap();
    e.connect("/patch/src/out", "/patch/double/x").unwrap();
    e.connect("/patch/double/y", "/patch/dst/in").unwrap();
    e.set_value("/patch/src/in", Value::Float(21.0)).unwrap();
    assert_eq!(e.current_value("/patch/dst/value").unwrap(), Value::Float(42.0));
    // Audio: a subpatch with a gain inside.
    e.add_transform("/patch", "Patch", "quiet", "").unwrap();
    e.add_transform("/patch/quiet", "Inlet", "in", "Samples").unwrap();
    e.add_transform("/patch/quiet", "Gain~", "g", "0.5").unwrap();
    e.add_transform("/patch/quiet", "Outlet", "out", "Samples").unwrap();
    e.connect("/patch/quiet/in", "/patch/quiet/g/samplesIn").unwrap();
    e.connect("/patch/quiet/g/samplesOut", "/patch/quiet/out").unwrap();
    e.add_transform("/patch", "Sig~", "one", "1").unwrap();
    e.add_transform("/patch", "AudioOutput", "dac", "").unwrap();
    e.connect("/patch/one/samplesOut", "/patch/quiet/in").unwrap();
    e.connect("/patch/quiet/out", "/patch/dac/mix").unwrap();
    e.set_value("/patch/dac/onoff", Value::Boolean(true)).unwrap();
    tick(&mut e, &mut a);
    assert!(tick(&mut e, &mut a).iter().all(|x| *x == 0.5));
    // Deleting the subpatch removes everything inside it.
    e.delete_transform("/patch", "quiet").unwrap();
    assert!(e.graph.resolve("/patch/quiet/g").is_err());
    assert_eq!(e.graph.nodes.len(), 9, "root, double (4), src, dst, one, dac");
}

#[test]
fn renaming_moves_the_address_and_keeps_connections() {
    let (mut e, _a) = engine();
    e.add_transform("/patch", "Value", "a", "").unwrap();
    e.add_transform("/patch", "Value", "b", "").unwrap();
    e.connect("/patch/a/out", "/patch/b/in").unwrap();
    e.rename("/patch/a", "first").unwrap();
    assert!(e.graph.resolve("/patch/a").is_err());
    e.set_value("/patch/first/in", Value::Integer(5)).unwrap();
    assert_eq!(e.current_value("/patch/b/value").unwrap(), Value::Integer(5));
    assert!(e
        .take_changes()
        .contains(&Change::Renamed { from: "/patch/a".into(), to: "/patch/first".into() }));
}

#[test]
fn edits_while_playing_fade_instead_of_clicking() {
    let (mut e, mut a) = engine();
    e.add_transform("/patch", "AudioOutput", "out", "").unwrap();
    e.add_transform("/patch", "Sig~", "one", "1").unwrap();
    e.set_value("/patch/out/onoff", Value::Boolean(true)).unwrap();
    tick(&mut e, &mut a);
    // A new connection ramps in over one block.
    e.connect("/patch/one/samplesOut", "/patch/out/mix").unwrap();
    let up = tick(&mut e, &mut a);
    assert!(up[0] < 0.05 && up[63] == 1.0 && up.windows(2).all(|w| w[1] > w[0]), "{up:?}");
    assert!(tick(&mut e, &mut a).iter().all(|x| *x == 1.0));
    // Deleting the source ramps it out over one block, then silence.
    e.delete_transform("/patch", "one").unwrap();
    let down = tick(&mut e, &mut a);
    assert!(down[0] > 0.95 && down[63] == 0.0 && down.windows(2).all(|w| w[1] < w[0]), "{down:?}");
    assert!(tick(&mut e, &mut a).iter().all(|x| *x == 0.0));
    // Later the dying node is dropped for good (on the control side).
    for _ in 0..4 {
        tick(&mut e, &mut a);
    }
    assert!(!e.layout.needs_cleanup);
    assert_eq!(e.layout.slot_of.len(), 1);
}

#[test]
fn advance_clock_runs_extra_blocks() {
    let (mut e, mut a) = engine();
    e.advance_clock(3);
    a.tick();
    assert_eq!(e.clock().frames(), 4 * 64);
}

/// The first frame, from now until frame `until`, at which the output reads `level`.
fn first_frame_at(e: &mut Engine, a: &mut AudioSide, level: f32, until: u64) -> Option<u64> {
    while e.clock().frames() < until {
        let start = e.clock().frames();
        if let Some(i) = tick(e, a).iter().position(|x| *x == level) {
            return Some(start + i as u64);
        }
    }
    None
}

#[test]
fn timed_value_changes_land_on_their_frame() {
    let (mut e, mut a) = engine();
    e.add_transform("/patch", "AudioOutput", "out", "").unwrap();
    e.set_value("/patch/out/onoff", Value::Boolean(true)).unwrap();
    // Two sources into one inlet, steady: they are fused (they add into
    // one accumulator), the path a big patch takes.
    for name in ["a", "b"] {
        e.add_transform("/patch", "Sig~", name, "0").unwrap();
        e.connect(&format!("/patch/{name}/samplesOut"), "/patch/out/mix").unwrap();
    }
    for _ in 0..4 {
        tick(&mut e, &mut a);
    }
    assert!(!e.layout.needs_cleanup, "steady");
    // At a block's first and last sample, inside one, a block ahead.
    let mut level = 0.0f32;
    for ahead in [0, 63, 37, 100, 64, 129] {
        level += 0.125;
        let frame = e.clock().frames() + ahead;
        e.at_frame(Some(frame), |e| e.set_value("/patch/a/value", Value::Float(level as f64))).unwrap();
        assert_eq!(first_frame_at(&mut e, &mut a, level, frame + 64), Some(frame), "{ahead} ahead");
    }
    // Two changes a sample apart in one block.
    let frame = e.clock().frames() + 20;
    for (at, v) in [(frame, 0.5), (frame + 1, 0.75)] {
        e.at_frame(Some(at), |e| e.set_value("/patch/a/value", Value::Float(v))).unwrap();
    }
    let block = tick(&mut e, &mut a);
    assert_eq!(&block[19..22], &[level, 0.5, 0.75]);
    level = 0.75;
    // A change waiting while the program is rebuilt follows its node to its new slot.
    e.at_frame(Some(2000), |e| e.set_value("/patch/b/value", Value::Float(0.25))).unwrap();
    tick(&mut e, &mut a);
    e.add_transform("/patch", "Sig~", "c", "0").unwrap();
    e.connect("/patch/c/samplesOut", "/patch/out/mix").unwrap();
    assert_eq!(first_frame_at(&mut e, &mut a, level + 0.25, 2100), Some(2000));
    assert_eq!(e.clock().crowded(), 0);
}
