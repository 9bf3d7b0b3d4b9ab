//! Control flow: gates, routing, triggers, counters, timing (on the engine's
//! clock, so offline renders are exact) and list operations.

use super::{Args, TypeEntry};
use crate::engine::transform::{control_fn, Built, Control, Ctx, PortSpec};
use crate::engine::value::{Value, ValueType as T};

const MAX_PORTS: usize = 64;

fn numbered(prefix: &str, n: usize, f: impl Fn(&str) -> PortSpec) -> Vec<PortSpec> {
    (0..n).map(|i| f(&format!("{prefix}{i}")).order(i as i32)).collect()
}

/// Milliseconds to seconds, never negative.
fn ms(x: f64) -> f64 {
    x.max(0.0) / 1000.0
}

struct Metro {
    next: f64,
}
impl Control for Metro {
    fn activate(&mut self, inlet: usize, ctx: &mut Ctx) {
        if inlet == 0 && ctx.values[0].is_true() {
            self.next = ctx.now();
            self.timer(ctx);
        } else if inlet == 0 {
            ctx.cancel_timer();
        }
    }
    fn timer(&mut self, ctx: &mut Ctx) {
        ctx.emit(2, Value::Bang);
        // Drift-free: the next tick is counted from the last one, not from now.
        self.next += ms(ctx.f(1)).max(0.001);
        ctx.wake_at(self.next);
    }
}

struct Delay;
impl Control for Delay {
    fn activate(&mut self, inlet: usize, ctx: &mut Ctx) {
        match inlet {
            0 => ctx.wake_at(ctx.now() + ms(ctx.f(2))),
            _ => ctx.cancel_timer(),
        }
    }
    fn timer(&mut self, ctx: &mut Ctx) {
        ctx.emit(3, Value::Bang);
    }
}

/// Pd's `line`: ramps to a target over a time, one value per grain.
struct Line {
    from: f64,
    to: f64,
    start: f64,
    end: f64,
}
impl Line {
    fn at(&self, t: f64) -> f64 {
        if t >= self.end || self.end <= self.start {
            self.to
        } else {
            self.from + (self.to - self.from) * (t - self.start) / (self.end - self.start)
        }
    }
}
impl Control for Line {
    fn activate(&mut self, _: usize, ctx: &mut Ctx) {
        let current = self.at(ctx.now());
        let time = ms(ctx.f(1));
        *self = Line { from: current, to: ctx.f(0), start: ctx.now(), end: ctx.now() + time };
        if time == 0.0 {
            ctx.cancel_timer();
            ctx.emit(3, Value::Float(self.to));
        } else {
            self.timer(ctx);
        }
    }
    fn timer(&mut self, ctx: &mut Ctx) {
        ctx.emit(3, Value::Float(self.at(ctx.now())));
        if ctx.now() < self.end {
            ctx.wake_at((ctx.now() + ms(ctx.f(2)).max(0.001)).min(self.end));
        }
    }
}

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
pub(crate) struct Rng(u64);
impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The type letter of a Trigger or Pack argument.
fn letter_type(word: &str) -> Result<T, String> {
    Ok(match word {
        "f" | "float" => T::Float,
        "i" | "int" => T::Integer,
        "b" | "bang" => T::Bang,
        "s" | "symbol" | "string" => T::String,
        "l" | "list" => T::List,
        "a" | "anything" => T::Any,
        w => return Err(format!("unknown type letter {w:?} (use f, i, b, s, l or a)")),
    })
}

pub(crate) fn entries() -> Vec<TypeEntry> {
    vec![
        TypeEntry::new("Gate", "control", "Passes input through while open", |args: &Args| {
            let ports = vec![
                PortSpec::cold("open", T::Boolean, "Whether values pass").order(0),
                PortSpec::hot("in", T::Any, "Values to pass while open").order(1),
                PortSpec::outlet("out", T::Any, "The values that passed"),
            ];
            Ok(Built::new(ports).init("open", Value::Boolean(args.f(0, 0.0)? != 0.0)).control(control_fn(|_, ctx| {
                if ctx.values[0].is_true() {
                    let v = ctx.values[1].clone();
                    ctx.emit(2, v);
                }
            })))
        }),
        TypeEntry::new("FanOut", "control", "Copies its input to N outlets, out0 first (argument: N, default 2)", |args: &Args| {
            let n = args.count(0, 2, MAX_PORTS)?;
            let mut ports = vec![PortSpec::hot("in", T::Any, "The value to copy")];
            ports.extend(numbered("out", n, |name| PortSpec::outlet(name, T::Any, "A copy of the input")));
            Ok(Built::new(ports).control(control_fn(move |_, ctx| {
                for i in 0..n {
                    let v = ctx.values[0].clone();
                    ctx.emit(1 + i, v);
                }
            })))
        }),
        TypeEntry::new("FanIn", "control", "Merges N inlets into one outlet (argument: N, default 2)", |args: &Args| {
            let n = args.count(0, 2, MAX_PORTS)?;
            let mut ports = numbered("in", n, |name| PortSpec::hot(name, T::Any, "Any value here is output").group(0));
            // Each inlet is its own co-activation set.
            for (i, p) in ports.iter_mut().enumerate() {
                p.group = i as u8;
            }
            ports.push(PortSpec::outlet("out", T::Any, "Whatever arrived last"));
            Ok(Built::new(ports).control(control_fn(move |inlet, ctx| {
                let v = ctx.values[inlet].clone();
                ctx.emit(n, v);
            })))
        }),
        TypeEntry::new(
            "Route",
            "control",
            "Sends a list whose first element matches argument K out of outK, without that element; others go to reject",
            |args: &Args| {
                let keys = args.words.clone();
                if keys.len() > MAX_PORTS {
                    return Err(format!("at most {MAX_PORTS} selectors"));
                }
                let mut ports = vec![PortSpec::hot("in", T::List, "A list: selector, then data")];
                ports.extend(numbered("out", keys.len(), |name| PortSpec::outlet(name, T::List, "The data after a matching selector")));
                ports.push(PortSpec::outlet("reject", T::List, "Lists that matched no selector"));
                Ok(Built::new(ports).control(control_fn(move |_, ctx| {
                    let Value::List(list) = ctx.values[0].clone() else { return };
                    match list.first().and_then(|head| keys.iter().position(|k| k == head || k.to_string() == head.to_string())) {
                        Some(k) => ctx.emit(1 + k, Value::List(list[1..].to_vec())),
                        None => ctx.emit(1 + keys.len(), Value::List(list)),
                    }
                })))
            },
        ),
        TypeEntry::new("Select", "control", "Bangs outK when the input equals argument K; passes others to reject", |args: &Args| {
            let keys = args.words.clone();
            if keys.len() > MAX_PORTS {
                return Err(format!("at most {MAX_PORTS} values"));
            }
            let mut ports = vec![PortSpec::hot("in", T::Any, "The value to test")];
            ports.extend(numbered("out", keys.len(), |name| PortSpec::outlet(name, T::Bang, "Bangs on a match")));
            ports.push(PortSpec::outlet("reject", T::Any, "Values that matched nothing"));
            Ok(Built::new(ports).control(control_fn(move |_, ctx| {
                let v = ctx.values[0].clone();
                let hit = keys.iter().position(|k| k == &v || k.as_f64().is_some() && k.as_f64() == v.as_f64());
                match hit {
                    Some(k) => ctx.emit(1 + k, Value::Bang),
                    None => ctx.emit(1 + keys.len(), v),
                }
            })))
        }),
        TypeEntry::new(
            "Trigger",
            "control",
            "Outputs its input converted per argument letter (f i b s l a), right to left as in Pd",
            |args: &Args| {
                let words: Vec<String> = args.words.iter().map(|w| w.to_string()).collect();
                let words = if words.is_empty() { vec!["b".to_owned(), "b".to_owned()] } else { words };
                let types = words.iter().map(|w| letter_type(w)).collect::<Result<Vec<_>, _>>()?;
                let mut ports = vec![PortSpec::hot("in", T::Any, "The value that triggers")];
                for (i, t) in types.iter().enumerate() {
                    ports.push(PortSpec::outlet(&format!("out{i}"), *t, "The input as this outlet's type").order(i as i32));
                }
                Ok(Built::new(ports).control(control_fn(move |_, ctx| {
                    for (i, t) in types.iter().enumerate().rev() {
                        if let Ok(v) = ctx.values[0].clone().cast(*t) {
                            ctx.emit(1 + i, v);
                        }
                    }
                })))
            },
        ),
        TypeEntry::new("Counter", "control", "Counts bangs from min to max, then wraps (arguments: min max)", |args: &Args| {
            let (lo, hi) = (args.f(0, 0.0)? as i64, args.f(1, i64::MAX as f64)? as i64);
            let ports = vec![
                PortSpec::hot("bang", T::Bang, "Outputs the count, then steps it"),
                PortSpec::hot("reset", T::Bang, "Goes back to min").group(1),
                PortSpec::cold("min", T::Integer, "First value"),
                PortSpec::cold("max", T::Integer, "Last value before wrapping"),
                PortSpec::state("count", T::Integer, "The next value to output"),
                PortSpec::outlet("out", T::Integer, "The count"),
            ];
            Ok(Built::new(ports)
                .init("min", Value::Integer(lo))
                .init("max", Value::Integer(hi))
                .init("count", Value::Integer(lo))
                .control(control_fn(|inlet, ctx| {
                    let (lo, hi, n) = (ctx.f(2) as i64, ctx.f(3) as i64, ctx.f(4) as i64);
                    if inlet == 1 {
                        ctx.values[4] = Value::Integer(lo);
                        return;
                    }
                    ctx.emit(5, Value::Integer(n));
                    ctx.values[4] = Value::Integer(if n >= hi { lo } else { n + 1 });
                })))
        }),
        TypeEntry::new("Metro", "control", "Bangs every interval milliseconds while on (argument: interval)", |args: &Args| {
            let ports = vec![
                PortSpec::hot("onoff", T::Boolean, "Starts (with a bang at once) or stops").resume(),
                PortSpec::cold("interval", T::Float, "Milliseconds between bangs"),
                PortSpec::outlet("bang", T::Bang, "The ticks"),
            ];
            Ok(Built::new(ports).init("interval", Value::Float(args.f(0, 1000.0)?)).control(Metro { next: 0.0 }))
        }),
        TypeEntry::new("Delay", "control", "Bangs once, delay milliseconds after a bang (argument: delay)", |args: &Args| {
            let ports = vec![
                PortSpec::hot("bang", T::Bang, "Starts (or restarts) the delay"),
                PortSpec::hot("stop", T::Bang, "Cancels a pending bang").group(1),
                PortSpec::cold("delay", T::Float, "Milliseconds"),
                PortSpec::outlet("out", T::Bang, "The delayed bang"),
            ];
            Ok(Built::new(ports).init("delay", Value::Float(args.f(0, 0.0)?)).control(Delay))
        }),
        TypeEntry::new("Toggle", "control", "Flips between false and true on each bang", |_: &Args| {
            let ports = vec![
                PortSpec::hot("bang", T::Bang, "Flips and outputs"),
                PortSpec::hot("set", T::Boolean, "Sets and outputs").group(1),
                PortSpec::outlet("out", T::Boolean, "The state"),
            ];
            Ok(Built::new(ports).control(control_fn(|inlet, ctx| {
                let next = if inlet == 1 { ctx.values[1].is_true() } else { !ctx.values[2].is_true() };
                ctx.emit(2, Value::Boolean(next));
            })))
        }),
        TypeEntry::new("Random", "control", "A random integer from 0 to range-1 per bang (arguments: range seed)", |args: &Args| {
            let (range, seed) = (args.f(0, 100.0)?, args.f(1, 1.0)?);
            let ports = vec![
                PortSpec::hot("bang", T::Bang, "Outputs a new number"),
                PortSpec::cold("range", T::Integer, "How many values"),
                PortSpec::outlet("out", T::Integer, "The number"),
            ];
            let mut rng = Rng::new(seed as u64);
            Ok(Built::new(ports).init("range", Value::Integer(range as i64)).control(control_fn(move |_, ctx| {
                let range = ctx.f(1).max(1.0);
                let r = (rng.unit() * range).floor() as i64;
                ctx.emit(2, Value::Integer(r));
            })))
        }),
        TypeEntry::new(
            "Line",
            "control",
            "Ramps to a target over time milliseconds, one value per grain (arguments: time grain)",
            |args: &Args| {
                let ports = vec![
                    PortSpec::hot("target", T::Float, "Where to go; starts the ramp").order(2),
                    PortSpec::cold("time", T::Float, "Ramp duration, milliseconds (0 jumps)").order(1),
                    PortSpec::cold("grain", T::Float, "Milliseconds between outputs").order(0),
                    PortSpec::outlet("out", T::Float, "The ramping value"),
                ];
                Ok(Built::new(ports)
                    .init("time", Value::Float(args.f(0, 0.0)?))
                    .init("grain", Value::Float(args.f(1, 20.0)?))
                    .control(Line { from: 0.0, to: 0.0, start: 0.0, end: 0.0 }))
            },
        ),
        TypeEntry::new("Print", "control", "Writes what it receives to the log and notifications (argument: prefix)", |args: &Args| {
            let prefix = args.words.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(" ");
            let ports = vec![PortSpec::hot("in", T::Any, "The value to print")];
            Ok(Built::new(ports).control(control_fn(move |_, ctx| {
                let line = if prefix.is_empty() { ctx.values[0].to_string() } else { format!("{prefix}: {}", ctx.values[0]) };
                ctx.print(line);
            })))
        }),
        TypeEntry::new("Pack", "control", "Combines N values into a list; in0 outputs (argument: N, default 2)", |args: &Args| {
            let n = args.count(0, 2, MAX_PORTS)?;
            let mut ports = numbered("in", n, |name| PortSpec::cold(name, T::Any, "One element"));
            ports[0] = PortSpec::hot("in0", T::Any, "First element; outputs the list").order(n as i32);
            ports.push(PortSpec::outlet("out", T::List, "The list"));
            Ok(Built::new(ports).control(control_fn(move |_, ctx| {
                let list = ctx.values[..n].to_vec();
                ctx.emit(n, Value::List(list));
            })))
        }),
        TypeEntry::new("Unpack", "control", "Splits a list into N outlets, right to left (argument: N, default 2)", |args: &Args| {
            let n = args.count(0, 2, MAX_PORTS)?;
            let mut ports = vec![PortSpec::hot("in", T::List, "The list")];
            ports.extend(numbered("out", n, |name| PortSpec::outlet(name, T::Any, "One element")));
            Ok(Built::new(ports).control(control_fn(move |_, ctx| {
                let Value::List(list) = ctx.values[0].clone() else { return };
                for (i, v) in list.into_iter().take(n).enumerate().collect::<Vec<_>>().into_iter().rev() {
                    ctx.emit(1 + i, v);
                }
            })))
        }),
        TypeEntry::new("Length", "control", "The number of elements of a list", |_: &Args| {
            let ports = vec![PortSpec::hot("in", T::List, "The list"), PortSpec::outlet("out", T::Integer, "Its length")];
            Ok(Built::new(ports).control(control_fn(|_, ctx| {
                let n = match &ctx.values[0] {
                    Value::List(l) => l.len(),
                    _ => 0,
                };
                ctx.emit(1, Value::Integer(n as i64));
            })))
        }),
        TypeEntry::new("Nth", "control", "Element number index of a list, from 0 (argument: index)", |args: &Args| {
            let ports = vec![
                PortSpec::hot("in", T::List, "The list"),
                PortSpec::cold("index", T::Integer, "Which element, from 0; negative counts from the end"),
                PortSpec::outlet("out", T::Any, "The element (nothing when out of range)"),
            ];
            Ok(Built::new(ports).init("index", Value::Integer(args.f(0, 0.0)? as i64)).control(control_fn(|_, ctx| {
                let Value::List(l) = &ctx.values[0] else { return };
                let i = ctx.f(1) as i64;
                let i = if i < 0 { l.len() as i64 + i } else { i };
                if let Some(v) = usize::try_from(i).ok().and_then(|i| l.get(i)).cloned() {
                    ctx.emit(2, v);
                }
            })))
        }),
        TypeEntry::new("Value", "control", "Holds a value: stores and outputs what arrives, repeats it on bang", |args: &Args| {
            let ports = vec![
                PortSpec::hot("in", T::Any, "Stores and outputs"),
                PortSpec::hot("bang", T::Bang, "Outputs the stored value").group(1),
                PortSpec::state("value", T::Any, "The stored value"),
                PortSpec::outlet("out", T::Any, "The value"),
            ];
            let init = args.words.first().cloned().unwrap_or(Value::Float(0.0));
            Ok(Built::new(ports).init("value", init).control(control_fn(|inlet, ctx| {
                if inlet == 0 {
                    ctx.values[2] = ctx.values[0].clone();
                }
                let v = ctx.values[2].clone();
                ctx.emit(3, v);
            })))
        }),
        TypeEntry::new("Constant", "control", "Outputs its argument on each bang", |args: &Args| {
            let value = match args.words.len() {
                0 => Value::Float(0.0),
                1 => args.words[0].clone(),
                _ => Value::List(args.words.clone()),
            };
            let ports = vec![
                PortSpec::hot("bang", T::Bang, "Outputs the constant"),
                PortSpec::state("value", T::Any, "The constant"),
                PortSpec::outlet("out", T::Any, "The constant"),
            ];
            Ok(Built::new(ports).init("value", value).control(control_fn(|_, ctx| {
                let v = ctx.values[1].clone();
                ctx.emit(2, v);
            })))
        }),
        TypeEntry::new("Bang", "control", "Turns anything into a bang", |_: &Args| {
            let ports = vec![PortSpec::hot("in", T::Any, "Any value"), PortSpec::outlet("out", T::Bang, "A bang")];
            Ok(Built::new(ports).control(control_fn(|_, ctx| ctx.emit(1, Value::Bang))))
        }),
        TypeEntry::new("Change", "control", "Passes a value only when it differs from the last one", |_: &Args| {
            let ports = vec![PortSpec::hot("in", T::Any, "A value"), PortSpec::outlet("out", T::Any, "Changed values")];
            let mut last: Option<Value> = None;
            Ok(Built::new(ports).control(control_fn(move |_, ctx| {
                if last.as_ref() != Some(&ctx.values[0]) {
                    last = Some(ctx.values[0].clone());
                    let v = ctx.values[0].clone();
                    ctx.emit(1, v);
                }
            })))
        }),
        TypeEntry::new(
            "Join",
            "control",
            "Outputs [a, b] once both a and b have arrived (a co-activation set of two)",
            |_: &Args| {
                let ports = vec![
                    PortSpec::hot("a", T::Any, "First element; co-activates with b"),
                    PortSpec::hot("b", T::Any, "Second element; co-activates with a").order(1),
                    PortSpec::outlet("out", T::List, "[a, b]"),
                ];
                Ok(Built::new(ports).control(control_fn(|_, ctx| {
                    let l = vec![ctx.values[0].clone(), ctx.values[1].clone()];
                    ctx.emit(2, Value::List(l));
                })))
            },
        ),
        TypeEntry::new("Swap", "control", "Outputs b then a, crossed: out0 gets b, out1 gets a", |args: &Args| {
            let ports = vec![
                PortSpec::hot("a", T::Float, "Triggers"),
                PortSpec::cold("b", T::Float, "Stored"),
                PortSpec::outlet("out0", T::Float, "b"),
                PortSpec::outlet("out1", T::Float, "a"),
            ];
            Ok(Built::new(ports).init("b", Value::Float(args.f(0, 0.0)?)).control(control_fn(|_, ctx| {
                let (a, b) = (ctx.values[0].clone(), ctx.values[1].clone());
                ctx.emit(3, a);
                ctx.emit(2, b);
            })))
        }),
        TypeEntry::new("Accum", "control", "Running sum of its inputs", |_: &Args| {
            let ports = vec![
                PortSpec::hot("in", T::Float, "Adds to the sum and outputs it"),
                PortSpec::hot("reset", T::Bang, "Sets the sum to 0").group(1),
                PortSpec::state("sum", T::Float, "The sum so far"),
                PortSpec::outlet("out", T::Float, "The sum"),
            ];
            Ok(Built::new(ports).control(control_fn(|inlet, ctx| {
                let sum = if inlet == 1 { 0.0 } else { ctx.f(2) + ctx.f(0) };
                ctx.values[2] = Value::Float(sum);
                if inlet == 0 {
                    ctx.emit(3, Value::Float(sum));
                }
            })))
        }),
        TypeEntry::new("Timer", "control", "Milliseconds of engine time between a bang on start and one on stop", |_: &Args| {
            let ports = vec![
                PortSpec::hot("start", T::Bang, "Starts timing"),
                PortSpec::hot("stop", T::Bang, "Outputs the time since start").group(1),
                PortSpec::outlet("out", T::Float, "Milliseconds"),
            ];
            let mut started = 0.0;
            Ok(Built::new(ports).control(control_fn(move |inlet, ctx| {
                if inlet == 0 {
                    started = ctx.now();
                } else {
                    ctx.emit(2, Value::Float((ctx.now() - started) * 1000.0));
                }
            })))
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::engine::{Engine, EngineError, Value};

    fn list(v: &[Value]) -> Value {
        Value::List(v.to_vec())
    }

    /// A transform `t` feeding a Value probe `p` from outlet `port`.
    fn probed(ty: &str, args: &str, port: &str) -> (Engine, crate::engine::AudioSide) {
        let (mut e, a) = one(ty, args);
        e.add_transform("/patch", "Value", "p", "").unwrap();
        e.connect(&format!("/patch/t/{port}"), "/patch/p/in").unwrap();
        (e, a)
    }

    fn probe(e: &Engine) -> Value {
        e.current_value("/patch/p/value").unwrap()
    }

    #[test]
    fn gate_passes_only_while_open() {
        let (mut e, _a) = one("Gate", "");
        set(&mut e, "in", Value::Float(1.0));
        assert_eq!(get(&e, "out"), Value::Nil);
        set(&mut e, "open", Value::Boolean(true));
        set(&mut e, "in", Value::Float(2.0));
        assert_eq!(get(&e, "out"), Value::Float(2.0));
    }

    #[test]
    fn fanout_fanin_route_select_and_trigger_route_values() {
        let (mut e, _a) = one("FanOut", "3");
        set(&mut e, "in", Value::Integer(7));
        assert_eq!(get(&e, "out2"), Value::Integer(7));
        let (mut e, _a) = one("FanIn", "3");
        set(&mut e, "in2", Value::Integer(5));
        assert_eq!(get(&e, "out"), Value::Integer(5));
        let (mut e, _a) = one("Route", "freq amp");
        set(&mut e, "in", list(&[Value::String("amp".into()), Value::Float(0.5)]));
        assert_eq!(get(&e, "out1"), list(&[Value::Float(0.5)]));
        set(&mut e, "in", list(&[Value::String("pan".into()), Value::Float(0.5)]));
        assert_eq!(get(&e, "reject"), list(&[Value::String("pan".into()), Value::Float(0.5)]));
        let (mut e, _a) = one("Select", "1 2");
        set(&mut e, "in", Value::Float(2.0));
        assert_eq!(get(&e, "out1"), Value::Bang);
        set(&mut e, "in", Value::Float(3.0));
        assert_eq!(get(&e, "reject"), Value::Float(3.0));
        let (mut e, _a) = one("Trigger", "f b i");
        set(&mut e, "in", Value::Float(2.5));
        assert_eq!(
            (get(&e, "out0"), get(&e, "out1"), get(&e, "out2")),
            (Value::Float(2.5), Value::Bang, Value::Integer(2))
        );
    }

    #[test]
    fn trigger_fires_right_to_left_depth_first() {
        // out1 (right) goes first: the list collects [right, left].
        let (mut e, _a) = one("Trigger", "f f");
        e.add_transform("/patch", "Accum", "acc", "").unwrap();
        e.add_transform("/patch", "Print", "log", "").unwrap();
        e.add_transform("/patch", "*", "double", "2").unwrap();
        e.connect("/patch/t/out0", "/patch/double/a").unwrap();
        e.connect("/patch/double/out", "/patch/acc/in").unwrap();
        e.connect("/patch/t/out1", "/patch/acc/in").unwrap();
        e.connect("/patch/acc/out", "/patch/log/in").unwrap();
        set(&mut e, "in", Value::Float(1.0));
        assert_eq!(e.take_log(), vec!["/patch/log: 1", "/patch/log: 3"]);
    }

    #[test]
    fn counter_toggle_random_and_accum_keep_state() {
        let (mut e, _a) = one("Counter", "1 3");
        let mut seen = vec![];
        for _ in 0..4 {
            set(&mut e, "bang", Value::Bang);
            seen.push(get(&e, "out"));
        }
        assert_eq!(seen, [1, 2, 3, 1].map(Value::Integer));
        set(&mut e, "reset", Value::Bang);
        set(&mut e, "bang", Value::Bang);
        assert_eq!(get(&e, "out"), Value::Integer(1));
        let (mut e, _a) = one("Toggle", "");
        set(&mut e, "bang", Value::Bang);
        assert_eq!(get(&e, "out"), Value::Boolean(true));
        set(&mut e, "bang", Value::Bang);
        assert_eq!(get(&e, "out"), Value::Boolean(false));
        let (mut e, _a) = one("Random", "10 42");
        let draws: Vec<i64> = (0..200)
            .map(|_| {
                set(&mut e, "bang", Value::Bang);
                get(&e, "out").as_f64().unwrap() as i64
            })
            .collect();
        assert!(draws.iter().all(|d| (0..10).contains(d)));
        assert!((0..10).all(|k| draws.contains(&k)), "every value turns up in 200 draws");
        let (mut e, _a) = one("Accum", "");
        set(&mut e, "in", Value::Float(2.0));
        set(&mut e, "in", Value::Float(3.0));
        assert_eq!(get(&e, "out"), Value::Float(5.0));
    }

    #[test]
    fn metro_and_delay_keep_engine_time() {
        let (mut e, mut a) = probed("Metro", "100", "bang");
        e.add_transform("/patch", "Counter", "n", "").unwrap();
        e.connect("/patch/t/bang", "/patch/n/bang").unwrap();
        set(&mut e, "onoff", Value::Boolean(true));
        render(&mut e, &mut a, "bang", 1.0); // ticks at 0, 0.1, ... 0.9 s
        assert_eq!(e.current_value("/patch/n/count").unwrap(), Value::Integer(10));
        let (mut e, mut a) = probed("Delay", "250", "out");
        set(&mut e, "bang", Value::Bang);
        render(&mut e, &mut a, "out", 0.2);
        assert_eq!(probe(&e), Value::Float(0.0));
        render(&mut e, &mut a, "out", 0.1);
        assert_eq!(probe(&e), Value::Bang);
    }

    #[test]
    fn line_ramps_in_grains() {
        let (mut e, mut a) = one("Line", "100 10");
        set(&mut e, "target", Value::Float(1.0));
        render(&mut e, &mut a, "out", 0.05);
        let mid = get(&e, "out").as_f64().unwrap();
        assert!((0.3..0.6).contains(&mid), "halfway through: {mid}");
        render(&mut e, &mut a, "out", 0.1);
        assert_eq!(get(&e, "out"), Value::Float(1.0));
    }

    #[test]
    fn lists_pack_unpack_length_nth() {
        let (mut e, _a) = one("Pack", "3");
        set(&mut e, "in2", Value::Float(3.0));
        set(&mut e, "in1", Value::String("x".into()));
        set(&mut e, "in0", Value::Integer(1));
        let packed = list(&[Value::Integer(1), Value::String("x".into()), Value::Float(3.0)]);
        assert_eq!(get(&e, "out"), packed);
        let (mut e, _a) = one("Unpack", "3");
        set(&mut e, "in", packed.clone());
        assert_eq!(get(&e, "out1"), Value::String("x".into()));
        let (mut e, _a) = one("Length", "");
        set(&mut e, "in", packed.clone());
        assert_eq!(get(&e, "out"), Value::Integer(3));
        let (mut e, _a) = one("Nth", "-1");
        set(&mut e, "in", packed);
        assert_eq!(get(&e, "out"), Value::Float(3.0));
    }

    #[test]
    fn join_waits_for_its_whole_coactivation_set() {
        let (mut e, _a) = one("Join", "");
        set(&mut e, "a", Value::Integer(1));
        assert_eq!(get(&e, "out"), Value::List(vec![]));
        set(&mut e, "a", Value::Integer(2));
        set(&mut e, "b", Value::Integer(3));
        assert_eq!(get(&e, "out"), list(&[Value::Integer(2), Value::Integer(3)]));
    }

    #[test]
    fn value_constant_bang_change_swap_timer_print() {
        let (mut e, _a) = one("Value", "5");
        set(&mut e, "bang", Value::Bang);
        assert_eq!(get(&e, "out"), Value::Integer(5));
        let (mut e, _a) = one("Constant", "1 2");
        set(&mut e, "bang", Value::Bang);
        assert_eq!(get(&e, "out"), list(&[Value::Integer(1), Value::Integer(2)]));
        let (mut e, _a) = one("Bang", "");
        set(&mut e, "in", Value::Float(3.0));
        assert_eq!(get(&e, "out"), Value::Bang);
        let (mut e, _a) = probed("Change", "", "out");
        e.add_transform("/patch", "Counter", "n", "").unwrap();
        e.connect("/patch/t/out", "/patch/n/bang").unwrap();
        for x in [1.0, 1.0, 2.0, 2.0, 1.0] {
            set(&mut e, "in", Value::Float(x));
        }
        assert_eq!(e.current_value("/patch/n/count").unwrap(), Value::Integer(3));
        let (mut e, _a) = one("Swap", "9");
        set(&mut e, "a", Value::Float(1.0));
        assert_eq!((get(&e, "out0"), get(&e, "out1")), (Value::Float(9.0), Value::Float(1.0)));
        let (mut e, mut a) = one("Timer", "");
        set(&mut e, "start", Value::Bang);
        render(&mut e, &mut a, "out", 0.5);
        set(&mut e, "stop", Value::Bang);
        let ms = get(&e, "out").as_f64().unwrap();
        assert!((ms - 500.0).abs() < 2.0, "{ms}");
        let (mut e, _a) = one("Print", "freq");
        set(&mut e, "in", Value::Float(440.0));
        assert_eq!(e.take_log(), vec!["/patch/t: freq: 440"]);
    }

    #[test]
    fn a_control_loop_stops_at_the_depth_limit() {
        let (mut e, _a) = one("+", "1");
        e.connect("/patch/t/out", "/patch/t/a").unwrap();
        assert_eq!(e.set_value("/patch/t/a", Value::Float(0.0)), Err(EngineError::TooDeep));
        assert!(e.take_warnings()[0].contains("Control loop"));
        assert!(get(&e, "out").as_f64().unwrap() > 50.0);
    }

    /// A FanOut feeding its own inlet from both outlets doubles its
    /// activations at every level: the budget, not the depth, stops it,
    /// at once, with one warning and a log that does not grow.
    #[test]
    fn a_loop_that_fans_out_stops_within_its_budget() {
        let (mut e, _a) = one("FanOut", "2");
        e.connect("/patch/t/out0", "/patch/t/in").unwrap();
        e.connect("/patch/t/out1", "/patch/t/in").unwrap();
        let started = std::time::Instant::now();
        let stopped = e.set_value("/patch/t/in", Value::Float(1.0));
        assert!(matches!(stopped, Err(EngineError::TooDeep | EngineError::OverBudget)), "{stopped:?}");
        assert!(started.elapsed() < std::time::Duration::from_millis(500), "{:?}", started.elapsed());
        assert_eq!(e.take_warnings().len(), 1);
        assert!(e.take_log().len() <= crate::engine::activation::MAX_LOG_LINES + 1);
        // The patch is as it was built, and the next event has a budget of its own.
        assert!(e.graph().connections().count() == 2);
        assert!(e.set_value("/patch/t/in", Value::Float(2.0)).is_err());
        assert_eq!(e.take_warnings().len(), 1);
    }

    /// No loop at all, only breadth: twenty FanOuts in a row, each feeding
    /// the next from both outlets, make 2^20 activations of one value. The
    /// activation budget stops it well inside the depth limit.
    #[test]
    fn a_wide_cascade_stops_at_the_activation_budget() {
        let (mut e, _a) = Engine::new(SETUP);
        for i in 0..20 {
            e.add_transform("/patch", "FanOut", &format!("f{i}"), "2").unwrap();
        }
        for i in 0..19 {
            for out in ["out0", "out1"] {
                e.connect(&format!("/patch/f{i}/{out}"), &format!("/patch/f{}/in", i + 1)).unwrap();
            }
        }
        let started = std::time::Instant::now();
        assert_eq!(e.set_value("/patch/f0/in", Value::Float(1.0)), Err(EngineError::OverBudget));
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(e.take_warnings()[0].contains("over budget"));
        // A cascade within the budget runs whole: ten levels, 2^10 activations.
        let (mut e, _a) = Engine::new(SETUP);
        for i in 0..10 {
            e.add_transform("/patch", "FanOut", &format!("f{i}"), "2").unwrap();
        }
        for i in 0..9 {
            for out in ["out0", "out1"] {
                e.connect(&format!("/patch/f{i}/{out}"), &format!("/patch/f{}/in", i + 1)).unwrap();
            }
        }
        let before = e.activations();
        assert_eq!(e.set_value("/patch/f0/in", Value::Float(1.0)), Ok(()));
        assert_eq!(e.activations() - before, (1 << 10) - 1);
    }
}
