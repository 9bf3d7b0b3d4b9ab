//! A laid-out patch as SVG markup: one string for its boxes and one for its
//! wires, which the canvas hands to the browser to parse at once. Measured:
//! building 500 boxes and 600 wires element by element from wasm (some
//! 80,000 calls into the DOM) took most of the dashboard's first render;
//! one parse of the same markup takes a fraction of it. Every name is
//! escaped: names and types come from whoever built the patch.
//!
//! The boxes are cut into horizontal strips, each an `<svg>` of its own in a
//! `div.strip` that the stylesheet gives `content-visibility: auto`: the
//! browser styles, lays out and paints only the strips in view, where one
//! `<svg>` of 500 boxes was styled and laid out whole, mostly out of view
//! (BENCHMARKS.md, dashboard). Each strip's `viewBox` keeps the canvas's
//! coordinates, so a box's `transform` is the same in any strip.
//!
//! The markup is the canvas's testable surface: each box is a
//! `g.box[data-transform]` with `.port.inlet` and `.port.outlet` rects
//! (`[data-port]`, `.audio` or `.control`), each wire a
//! `path.wire[data-from][data-to]` (`transform/port`). A port's `<title>`
//! (its name on hover) is left to the canvas to add when the pointer comes
//! over it: made up front, titles were a quarter of the elements the first
//! render parses, styles and lays out.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::engine::PortInfo;
use crate::patch_layout::{wire_curve, BoxView, PatchView, BOX_HEIGHT, PORT};

/// How much of the canvas's height a strip of boxes holds: a box is in the
/// strip its top edge is in. About half the canvas's view, so that the
/// strips in view are few and each is small.
pub const STRIP_HEIGHT: f64 = 240.0;
/// How far a box's drawing reaches past its edges: ports stick out 3 px
/// above and below, and the strokes a little further. A strip's picture is
/// clipped to the strip, so each strip reaches this much past its band.
const REACH: f64 = 5.0;

/// The boxes of `view` in strips, top to bottom; within a strip, in the
/// view's order.
pub fn boxes(view: &PatchView) -> String {
    let mut strips: BTreeMap<i64, Vec<&BoxView>> = BTreeMap::new();
    for b in &view.boxes {
        strips.entry((b.y / STRIP_HEIGHT).floor() as i64).or_default().push(b);
    }
    let width = Num(view.canvas_size().0);
    let height = STRIP_HEIGHT + BOX_HEIGHT + 2.0 * REACH;
    let mut out = String::with_capacity(view.boxes.len() * 600 + strips.len() * 160);
    for (strip, members) in strips {
        let (top, h) = (Num(strip as f64 * STRIP_HEIGHT - REACH), Num(height));
        let _ = write!(
            out,
            r#"<div class="strip" style="top:{top}px;height:{h}px"><svg width="{width}" height="{h}" viewBox="0 {top} {width} {h}">"#
        );
        for b in members {
            box_markup(b, &mut out);
        }
        out.push_str("</svg></div>");
    }
    out
}

/// The wires of `view`, in its order.
pub fn wires(view: &PatchView) -> String {
    let mut out = String::with_capacity(view.wires.len() * 160);
    for w in &view.wires {
        let class = if w.audio { "wire audio" } else { "wire" };
        let _ = write!(
            out,
            r#"<path class="{class}" data-from="{}" data-to="{}" d="{}"></path>"#,
            escape(&w.from),
            escape(&w.to),
            curve(w.start, w.end)
        );
    }
    out
}

fn box_markup(b: &BoxView, out: &mut String) {
    let class = if b.type_name == "Patch" { "box subpatch" } else { "box" };
    let _ = write!(
        out,
        r#"<g class="{class}" data-transform="{name}" transform="{}"><rect class="body" width="{}" height="{}" rx="4"></rect><text class="name" x="8" y="16">{name}</text><text class="type" x="8" y="29">{}</text>"#,
        translate(b.x, b.y),
        Num(b.width),
        Num(BOX_HEIGHT),
        escape(&b.type_name),
        name = escape(&b.name),
    );
    let ports = |list: &[(PortInfo, f64)], side: &str, y: f64, out: &mut String| {
        for (p, x) in list {
            let kind = if p.audio { "audio" } else { "control" };
            let (name, x, y, width) = (escape(&p.name), Num(*x), Num(y), Num(PORT));
            let _ = write!(
                out,
                r#"<rect class="port {side} {kind}" data-port="{name}" x="{x}" y="{y}" width="{width}" height="6"></rect>"#
            );
        }
    };
    ports(&b.inlets, "inlet", -3.0, out);
    ports(&b.outlets, "outlet", BOX_HEIGHT - 3.0, out);
    out.push_str("</g>");
}

/// The root patch's transforms as a list (the patch as text, beside the
/// canvas): a `li.transform[data-transform]` each, with its address, its
/// type and a Delete button. One string for the same reason as the boxes:
/// built node by node, 500 rows were a tenth of the first render.
pub fn transform_list(transforms: &[(String, String)]) -> String {
    let mut out = String::with_capacity(transforms.len() * 140);
    for (name, type_name) in transforms {
        let (name, type_name) = (escape(name), escape(type_name));
        let _ = write!(
            out,
            r#"<li class="transform" data-transform="{name}"><code>/patch/{name}</code> <span class="type">{type_name}</span> <button class="danger">Delete</button></li>"#
        );
    }
    out
}

/// A box's `transform` attribute.
pub fn translate(x: f64, y: f64) -> String {
    format!("translate({}, {})", Num(x), Num(y))
}

/// A wire's path from `start` to `end` (see [`wire_curve`]).
pub fn curve(start: (f64, f64), end: (f64, f64)) -> String {
    let [p0, p1, p2, p3] = wire_curve(start, end);
    let n = |p: (f64, f64)| (Num(p.0), Num(p.1));
    let ((x0, y0), (x1, y1), (x2, y2), (x3, y3)) = (n(p0), n(p1), n(p2), n(p3));
    format!("M {x0} {y0} C {x1} {y1} {x2} {y2} {x3} {y3}")
}

/// A coordinate as markup gives it. The layout's are whole or half numbers:
/// those are written as integers, since the float formatter was a tenth of
/// the first render's script time in the size-optimised wasm (a profile of
/// the 500-box patch); any other number is written as Rust writes it.
struct Num(f64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        if v.abs() >= 1e15 || (v * 2.0).fract() != 0.0 {
            return write!(f, "{v}");
        }
        let whole = v.trunc() as i64;
        match (v.fract() != 0.0, v < 0.0 && whole == 0) {
            (false, _) => write!(f, "{whole}"),
            (true, false) => write!(f, "{whole}.5"),
            (true, true) => f.write_str("-0.5"),
        }
    }
}

/// Text as it may stand in markup, in an element or an attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch_layout::WireView;

    fn port(name: &str, audio: bool) -> PortInfo {
        PortInfo { name: name.into(), audio }
    }

    #[test]
    fn boxes_carry_their_ports_and_the_test_attributes() {
        let view = PatchView {
            boxes: vec![BoxView {
                name: "sine0".into(),
                type_name: "Sinewave".into(),
                x: 20.0,
                y: 40.5,
                width: 90.0,
                inlets: vec![(port("freq", false), 4.0)],
                outlets: vec![(port("samplesOut", true), 4.0)],
            }],
            wires: vec![],
            size: (0.0, 0.0),
        };
        assert_eq!(
            boxes(&view),
            concat!(
                r#"<div class="strip" style="top:-5px;height:286px"><svg width="400" height="286" viewBox="0 -5 400 286">"#,
                r#"<g class="box" data-transform="sine0" transform="translate(20, 40.5)">"#,
                r#"<rect class="body" width="90" height="36" rx="4"></rect>"#,
                r#"<text class="name" x="8" y="16">sine0</text><text class="type" x="8" y="29">Sinewave</text>"#,
                r#"<rect class="port inlet control" data-port="freq" x="4" y="-3" width="10" height="6"></rect>"#,
                r#"<rect class="port outlet audio" data-port="samplesOut" x="4" y="33" width="10" height="6"></rect>"#,
                "</g></svg></div>"
            )
        );
    }

    #[test]
    fn a_box_is_in_the_strip_its_top_edge_is_in_and_keeps_its_place() {
        let at = |name: &str, y: f64| BoxView {
            name: name.into(),
            type_name: "Value".into(),
            x: 20.0,
            y,
            width: 60.0,
            inlets: vec![],
            outlets: vec![],
        };
        let view = PatchView {
            boxes: vec![at("late", 500.0), at("first", 20.0), at("edge", 239.5), at("next", 240.0)],
            wires: vec![],
            size: (900.0, 556.0),
        };
        let markup = boxes(&view);
        let strips: Vec<&str> = markup.split(r#"<div class="strip""#).skip(1).collect();
        assert_eq!(strips.len(), 3, "{markup}");
        let names = |strip: &str| -> Vec<String> {
            strip.split(r#"data-transform=""#).skip(1).map(|s| s[..s.find('"').unwrap()].to_owned()).collect()
        };
        assert_eq!(names(strips[0]), ["first", "edge"], "in the view's order within a strip");
        assert_eq!(names(strips[1]), ["next"]);
        assert_eq!(names(strips[2]), ["late"]);
        // Each strip shows the canvas's coordinates from 5 px above its band
        // to past the bottom of a box at its band's last pixel.
        assert!(strips[1].starts_with(
            r#" style="top:235px;height:286px"><svg width="900" height="286" viewBox="0 235 900 286">"#
        ));
        assert!(strips[1].contains(r#"transform="translate(20, 240)""#));
        assert!(strips[2].starts_with(r#" style="top:475px;"#));
        let edge_bottom = 239.5 + BOX_HEIGHT + 3.0;
        assert!(edge_bottom < -5.0 + 286.0, "the lowest box of a strip is drawn whole");
    }

    #[test]
    fn the_transform_list_names_each_transform_once() {
        let list = transform_list(&[("sine0".into(), "Sinewave".into()), ("a<b".into(), "Value".into())]);
        assert_eq!(
            list,
            concat!(
                r#"<li class="transform" data-transform="sine0"><code>/patch/sine0</code> "#,
                r#"<span class="type">Sinewave</span> <button class="danger">Delete</button></li>"#,
                r#"<li class="transform" data-transform="a&lt;b"><code>/patch/a&lt;b</code> "#,
                r#"<span class="type">Value</span> <button class="danger">Delete</button></li>"#,
            )
        );
    }

    #[test]
    fn names_cannot_break_out_of_the_markup() {
        let name = r#"x"><script>alert(1)</script><g a='"#;
        let view = PatchView {
            boxes: vec![BoxView {
                name: name.into(),
                type_name: "Value".into(),
                x: 0.0,
                y: 0.0,
                width: 60.0,
                inlets: vec![],
                outlets: vec![],
            }],
            wires: vec![WireView {
                from: format!("{name}/out"),
                to: "b/in".into(),
                link: crate::engine::ConnectionFile { from: format!("{name}/out"), to: "b/in".into() },
                audio: false,
                start: (0.0, 0.0),
                end: (1.0, 1.0),
            }],
            size: (0.0, 0.0),
        };
        for markup in [boxes(&view), wires(&view)] {
            assert!(!markup.contains("<script"), "{markup}");
            assert!(!markup.contains("'\""), "{markup}");
            assert!(
                markup.contains("x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;g a=&#39;"),
                "{markup}"
            );
        }
    }

    #[test]
    fn numbers_are_written_as_rust_writes_them() {
        for i in -2000..2000 {
            for v in [i as f64, i as f64 / 2.0, i as f64 / 3.0, i as f64 * 1e13] {
                let expected = if v == 0.0 { "0".to_owned() } else { v.to_string() };
                assert_eq!(Num(v).to_string(), expected, "{v}");
            }
        }
        assert_eq!(Num(f64::NAN).to_string(), "NaN");
        assert_eq!(Num(1e300).to_string(), 1e300.to_string());
    }

    #[test]
    fn wires_curve_from_outlet_to_inlet() {
        assert_eq!(curve((10.0, 34.0), (50.0, 100.0)), "M 10 34 C 10 67 50 67 50 100");
        assert_eq!(curve((0.0, 0.0), (0.0, 10.0)), "M 0 0 C 0 30 0 -20 0 10", "a short wire still bends");
    }
}
