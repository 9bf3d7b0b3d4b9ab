//! The transform types, each documented with its ports.
//!
//! Layout: [`math`] (control arithmetic, comparison, logic, math and
//! conversions), [`control`] (routing, timing, lists), [`sources`]
//! (oscillators and noise), [`audio_math`], [`filters`], [`envelopes`],
//! [`delays`], [`analysis`], [`io`] (sound card and files) and [`patch`]
//! (subpatches and their borders).

pub(crate) mod analysis;
pub(crate) mod audio_math;
pub(crate) mod control;
pub(crate) mod delays;
pub(crate) mod envelopes;
pub(crate) mod filters;
pub(crate) mod io;
pub(crate) mod math;
pub(crate) mod patch;
pub(crate) mod sources;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::program::InputBus;

use super::transform::{Built, Setup};
use super::value::Value;

/// Method names of transforms and patches: no transform may take them.
pub(crate) const RESERVED: &[&str] = &[
    "add-transform",
    "delete-transform",
    "documentation",
    "type-signature",
    "current-value",
    "set-name",
    "set-layout",
    "get-inlets",
    "get-outlets",
    "persistent-states",
    "get-coactivators",
    "get-effects",
    "connect",
    "disconnect",
];

type Build = Box<dyn Fn(&Args) -> Result<Built, String> + Send + Sync>;

/// One creatable transform type.
pub struct TypeEntry {
    /// The name `add-transform` takes.
    pub name: &'static str,
    /// What it does and what its ports mean (`documentation`).
    pub doc: &'static str,
    /// Where the palette files it.
    pub category: &'static str,
    /// Builds one instance from its creation arguments.
    pub build: Build,
}

impl TypeEntry {
    /// A type built by `build`.
    pub fn new(
        name: &'static str,
        category: &'static str,
        doc: &'static str,
        build: impl Fn(&Args) -> Result<Built, String> + Send + Sync + 'static,
    ) -> TypeEntry {
        TypeEntry { name, doc, category, build: Box::new(build) }
    }
}

/// The argument string of `add-transform`, split into words.
pub struct Args {
    pub words: Vec<Value>,
    pub setup: Setup,
    /// The only directory FilePlayer and FileRecorder may touch.
    pub files: PathBuf,
    /// The sound card's input, for AudioInput.
    pub input: Arc<InputBus>,
}

impl Args {
    pub fn parse(text: &str, setup: Setup) -> Args {
        Args {
            words: text.split_whitespace().map(Value::parse_word).collect(),
            setup,
            files: PathBuf::from("."),
            input: InputBus::new(setup.block),
        }
    }

    pub fn in_dir(mut self, files: &Path) -> Args {
        self.files = files.to_owned();
        self
    }

    /// Argument `i` as a number, or `default` when absent.
    pub fn f(&self, i: usize, default: f64) -> Result<f64, String> {
        match self.words.get(i) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| format!("argument {} must be a number, not {v:?}", i + 1)),
        }
    }

    /// Argument `i` as a count between 1 and `max`.
    pub fn count(&self, i: usize, default: usize, max: usize) -> Result<usize, String> {
        let n = self.f(i, default as f64)?;
        if n.fract() != 0.0 || n < 1.0 || n > max as f64 {
            return Err(format!("argument {} must be a whole number from 1 to {max}", i + 1));
        }
        Ok(n as usize)
    }

    pub fn word(&self, i: usize) -> Option<String> {
        self.words.get(i).map(|v| v.to_string())
    }
}

fn registry() -> &'static BTreeMap<&'static str, TypeEntry> {
    static REGISTRY: OnceLock<BTreeMap<&'static str, TypeEntry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let all = [
            math::entries(),
            control::entries(),
            sources::entries(),
            audio_math::entries(),
            filters::entries(),
            envelopes::entries(),
            delays::entries(),
            analysis::entries(),
            io::entries(),
            patch::entries(),
        ];
        all.into_iter().flatten().map(|e| (e.name, e)).collect()
    })
}

pub(crate) fn get(name: &str) -> Option<&'static TypeEntry> {
    registry().get(name)
}

/// Every type, sorted by name (`/transform-types`).
pub fn all() -> impl Iterator<Item = &'static TypeEntry> {
    registry().values()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Runs one transform alone, offline: control values in, values or audio out.
    use super::*;
    use crate::engine::{Engine, Value};

    pub(crate) const SETUP: Setup = Setup { rate: 48000.0, block: 64 };

    /// An engine holding one transform named `t` of type `ty`.
    pub(crate) fn one(ty: &str, args: &str) -> (Engine, crate::engine::AudioSide) {
        let (mut engine, audio) = Engine::new(SETUP);
        engine.add_transform("/patch", ty, "t", args).unwrap_or_else(|e| panic!("{ty}: {e}"));
        (engine, audio)
    }

    pub(crate) fn set(engine: &mut Engine, port: &str, v: Value) {
        engine.set_value(&format!("/patch/t/{port}"), v).unwrap_or_else(|e| panic!("{port}: {e}"));
    }

    pub(crate) fn get(engine: &Engine, port: &str) -> Value {
        engine.current_value(&format!("/patch/t/{port}")).unwrap()
    }

    pub(crate) fn f(engine: &Engine, port: &str) -> f64 {
        get(engine, port).as_f64().unwrap_or_else(|| panic!("{port} is not a number"))
    }

    /// Renders `seconds` of outlet `port` of `t` through a probe.
    pub(crate) fn render(
        engine: &mut Engine,
        audio: &mut crate::engine::AudioSide,
        port: &str,
        seconds: f64,
    ) -> Vec<f32> {
        if engine.graph().resolve("/patch/probe").is_err() {
            engine.add_transform("/patch", "AudioOutput", "probe", "").unwrap();
            engine.set_value("/patch/probe/onoff", Value::Boolean(true)).unwrap();
        }
        let _ = engine.connect(&format!("/patch/t/{port}"), "/patch/probe/samplesIn");
        let blocks = (seconds * SETUP.rate / SETUP.block as f64).ceil() as usize;
        let mut out = Vec::with_capacity(blocks * SETUP.block);
        for _ in 0..blocks {
            engine.run_timers(engine.now());
            engine.pump();
            audio.tick();
            out.extend_from_slice(audio.channel(0));
        }
        out
    }

    /// Renders with a control value set first.
    pub(crate) fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    pub(crate) fn peak(x: &[f32]) -> f64 {
        x.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64))
    }

    /// Rising zero crossings per second.
    pub(crate) fn frequency(x: &[f32]) -> f64 {
        let crossings = x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        crossings as f64 * SETUP.rate / x.len() as f64
    }

    /// Amplitude of the steady-state response of `ty` to a sine of `freq` Hz.
    pub(crate) fn gain_at(ty: &str, args: &str, freq: f64) -> f64 {
        let (mut engine, mut audio) = one(ty, args);
        engine.add_transform("/patch", "Sinewave", "src", &freq.to_string()).unwrap();
        engine.connect("/patch/src/samplesOut", "/patch/t/samplesIn").unwrap();
        let out = render(&mut engine, &mut audio, "samplesOut", 1.0);
        peak(&out[out.len() / 2..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_at_least_120_documented_types_with_documented_ports() {
        let setup = testing::SETUP;
        let mut count = 0;
        for entry in all() {
            assert!(entry.doc.len() > 10, "{} lacks documentation", entry.name);
            let built =
                (entry.build)(&Args::parse("", setup)).unwrap_or_else(|e| panic!("{}: {e}", entry.name));
            for port in &built.ports {
                assert!(!port.doc.is_empty(), "{}/{} lacks documentation", entry.name, port.name);
            }
            count += 1;
        }
        assert!(count >= 120, "only {count} transform types");
    }

    #[test]
    fn bad_arguments_are_refused_with_a_reason() {
        let setup = testing::SETUP;
        let err = (get("FanOut").unwrap().build)(&Args::parse("x", setup)).err().unwrap();
        assert!(err.contains("argument 1"), "{err}");
        let err = (get("FanOut").unwrap().build)(&Args::parse("100000", setup)).err().unwrap();
        assert!(err.contains("from 1 to"), "{err}");
    }

    /// Every type, driven with hostile values: non-finite ones are refused
    /// at every numeric port, and after huge finite ones (which can drive a
    /// filter or a feedback loop past what f32 holds) are put back, every
    /// audio outlet is finite again within a block.
    #[test]
    fn every_type_survives_hostile_values() {
        use crate::engine::{Engine, EngineError, Value, ValueType};
        let (mut tried, mut with_audio) = (0, 0);
        for entry in all() {
            let ty = entry.name;
            if ["Inlet", "Outlet", "AudioInlet", "AudioOutlet"].contains(&ty) {
                continue; // borders: only inside a subpatch
            }
            let (mut e, mut a) = Engine::new(testing::SETUP);
            if e.add_transform("/patch", ty, "t", "").is_err() {
                continue; // needs arguments; its ports are built the same way
            }
            e.add_transform("/patch", "WhiteNoise", "excite", "").unwrap();
            let node = e.graph().nodes.values().find(|n| n.name == "t").unwrap();
            let ports: Vec<(String, ValueType, bool, Value)> = node
                .ports
                .iter()
                .zip(&node.values)
                .map(|(p, v)| (p.name.clone(), p.ty, p.is_outlet(), v.clone()))
                .collect();
            for (name, ty_, outlet, _) in &ports {
                let path = format!("/patch/t/{name}");
                if *ty_ == ValueType::Samples && !outlet {
                    let _ = e.connect("/patch/excite/samplesOut", &path);
                }
                if *outlet && *ty_ == ValueType::Samples {
                    let _ = e.connect(&path, "/patch/excite/samplesOut"); // refused: not an inlet
                }
            }
            let numeric = |t: ValueType| {
                matches!(t, ValueType::Float | ValueType::Integer | ValueType::Time | ValueType::Any)
            };
            for (name, ty_, _, _) in ports.iter().filter(|p| numeric(p.1)) {
                let path = format!("/patch/t/{name}");
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    let refused = e.set_value(&path, Value::Float(bad));
                    assert!(
                        matches!(
                            refused,
                            Err(EngineError::NotFinite | EngineError::Incompatible | EngineError::ReadOnly)
                        ),
                        "{ty}/{name} ({ty_:?}) took {bad}: {refused:?}"
                    );
                }
            }
            let outs: Vec<String> =
                ports.iter().filter(|p| p.2 && p.1 == ValueType::Samples).map(|p| p.0.clone()).collect();
            let probe = |e: &mut Engine, a: &mut crate::engine::AudioSide| -> Vec<f32> {
                let mut all = vec![];
                for out in &outs {
                    all.extend(testing::render(e, a, out, testing::SETUP.block as f64 / testing::SETUP.rate));
                }
                all
            };
            for huge in [1e30, -1e30, 1e9] {
                for (name, _, _, _) in ports.iter().filter(|p| numeric(p.1) && !p.2) {
                    let _ = e.set_value(&format!("/patch/t/{name}"), Value::Float(huge));
                }
                probe(&mut e, &mut a);
            }
            for (name, _, outlet, value) in &ports {
                if !outlet && *value != Value::Nil {
                    let _ = e.restore_value(&format!("/patch/t/{name}"), value.clone());
                }
            }
            probe(&mut e, &mut a);
            let after = probe(&mut e, &mut a);
            assert!(
                after.iter().all(|x| x.is_finite()),
                "{ty}: not finite a block after the values were restored"
            );
            tried += 1;
            with_audio += usize::from(!outs.is_empty());
        }
        assert!(
            tried >= 100 && with_audio >= 30,
            "only {tried} types tried, {with_audio} with audio outlets"
        );
    }

    /// A raw Biquad made unstable explodes to NaN; once its coefficients
    /// are stable again it must play, not stay NaN for good.
    #[test]
    fn an_unstable_filter_is_reset_and_plays_again() {
        use crate::engine::Value;
        let (mut e, mut a) = testing::one("Biquad", "");
        e.add_transform("/patch", "Sinewave", "src", "200").unwrap();
        e.connect("/patch/src/samplesOut", "/patch/t/samplesIn").unwrap();
        e.set_value("/patch/t/b0", Value::Float(1.0)).unwrap();
        e.set_value("/patch/t/a1", Value::Float(-3.0)).unwrap();
        let exploded = testing::render(&mut e, &mut a, "samplesOut", 0.1);
        assert!(exploded.iter().all(|x| x.is_finite()), "what leaves the node is always finite");
        e.set_value("/patch/t/a1", Value::Float(0.0)).unwrap();
        testing::render(
            &mut e,
            &mut a,
            "samplesOut",
            2.0 * testing::SETUP.block as f64 / testing::SETUP.rate,
        );
        let out = testing::render(&mut e, &mut a, "samplesOut", 0.05);
        assert!(testing::rms(&out) > 0.3, "plays again: rms {}", testing::rms(&out));
    }

    /// The cases: a Sinewave set to `inf` is refused and keeps
    /// playing; a Lowpass driven unstable plays again once its cutoff is back.
    #[test]
    fn a_sine_and_a_lowpass_play_again_after_hostile_values() {
        use crate::engine::{EngineError, Value};
        let (mut e, mut a) = testing::one("Sinewave", "440");
        assert_eq!(e.set_value("/patch/t/freq", Value::Float(f64::INFINITY)), Err(EngineError::NotFinite));
        let out = testing::render(&mut e, &mut a, "samplesOut", 0.1);
        assert!((testing::frequency(&out) - 440.0).abs() < 20.0, "{}", testing::frequency(&out));
        let (mut e, mut a) = testing::one("Lowpass", "1000");
        e.add_transform("/patch", "Sinewave", "src", "200").unwrap();
        e.connect("/patch/src/samplesOut", "/patch/t/samplesIn").unwrap();
        assert_eq!(e.set_value("/patch/t/freq", Value::Float(f64::NAN)), Err(EngineError::NotFinite));
        e.set_value("/patch/t/freq", Value::Float(1e30)).unwrap();
        testing::render(&mut e, &mut a, "samplesOut", 0.05);
        e.set_value("/patch/t/freq", Value::Float(1000.0)).unwrap();
        let out = testing::render(&mut e, &mut a, "samplesOut", 0.1);
        assert!(out.iter().all(|x| x.is_finite()));
        assert!(testing::rms(&out[out.len() / 2..]) > 0.3, "the filter passes its signal again");
    }
}
