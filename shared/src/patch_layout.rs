//! Where a canvas draws a patch: a box per transform with its inlets along
//! the top and outlets along the bottom, and a wire per connection between
//! the two ports it joins. Pure geometry, so it is tested here and the page
//! only draws it.
//!
//! A box goes where the patch file's `layout` puts it (or where it is being
//! dragged to). A box nobody placed goes in a band by its depth in the
//! signal flow (the longest chain of wires that reaches it), so that a chain
//! sine -> lowpass -> output reads top to bottom, as in Pd; a band wider
//! than the canvas wraps onto more lines.

use std::collections::BTreeMap;

use crate::engine::{Body, ConnectionFile, PortInfo, Ports, TransformFile};
use crate::patch_ports::PortMap;

/// Width of a port's tab, and the least room between two.
pub const PORT: f64 = 10.0;
/// A box's height.
pub const BOX_HEIGHT: f64 = 36.0;
const GAP_X: f64 = 40.0;
const GAP_Y: f64 = 70.0;
/// Between two lines of one depth's band, when it wraps.
const WRAP_GAP_Y: f64 = 24.0;
/// Where a band of boxes nobody placed wraps: about the canvas's width on a
/// 1280-pixel screen.
const ROW_WIDTH: f64 = 840.0;
const MARGIN: f64 = 20.0;
/// Roughly the width of a character of the box's label.
const CHAR: f64 = 7.5;

/// One transform's box.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxView {
    /// Its name in the patch shown.
    pub name: String,
    /// Its type.
    pub type_name: String,
    /// Top-left corner and width.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Its inlets with the x of each tab's left edge, relative to the box.
    pub inlets: Vec<(PortInfo, f64)>,
    /// Its outlets, likewise.
    pub outlets: Vec<(PortInfo, f64)>,
}

/// One connection, with the ends of its line.
#[derive(Debug, Clone, PartialEq)]
pub struct WireView {
    /// `box/outlet`: the box and the port it is drawn from.
    pub from: String,
    /// `box/inlet`.
    pub to: String,
    /// The connection as the file writes it (a subpatch's port is
    /// `sub/in0/in`), relative to the patch shown.
    pub link: ConnectionFile,
    /// Whether it carries audio.
    pub audio: bool,
    /// The outlet's bottom middle.
    pub start: (f64, f64),
    /// The inlet's top middle.
    pub end: (f64, f64),
}

/// A patch as a canvas draws it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatchView {
    /// The boxes, in the file's order (by name).
    pub boxes: Vec<BoxView>,
    /// The wires whose two ends are drawn.
    pub wires: Vec<WireView>,
    /// The size that holds every box.
    pub size: (f64, f64),
}

/// The members of one patch, borrowed from the file: the root patch's are
/// the file's own lists, a subpatch's its [`Body`]. Laying out from a copy
/// cost 4 ms per change on a 500-transform patch.
#[derive(Debug, Clone, Copy)]
pub struct Members<'a> {
    /// Its transforms.
    pub transforms: &'a [TransformFile],
    /// Its connections.
    pub connections: &'a [ConnectionFile],
}

impl<'a> From<&'a Body> for Members<'a> {
    fn from(body: &'a Body) -> Members<'a> {
        Members { transforms: &body.transforms, connections: &body.connections }
    }
}

impl PatchView {
    /// Lays out the members of the patch at `path` (`/patch` or a subpatch's
    /// address); `placed` holds boxes being dragged, by name, ahead of their
    /// `layout` in the file.
    pub fn of(
        path: &str,
        body: Members<'_>,
        ports: &PortMap,
        placed: &BTreeMap<String, (f64, f64)>,
    ) -> PatchView {
        let depth = depths(body);
        let members: Vec<(&TransformFile, Ports, f64)> = body
            .transforms
            .iter()
            .map(|t| {
                let own = ports.get(&format!("{path}/{}", t.name)).cloned().unwrap_or_default();
                let width = width(t, &own);
                (t, own, width)
            })
            .collect();
        // Boxes nobody placed: each depth is a band, filled left to right and
        // wrapped at ROW_WIDTH, so a wide patch grows down, not sideways.
        let mut bands: BTreeMap<usize, (usize, f64)> = BTreeMap::new(); // depth -> (line, next x)
        let mut spot: BTreeMap<&str, (usize, usize, f64)> = BTreeMap::new(); // name -> (depth, line, x)
        for (t, _, width) in &members {
            if placed.contains_key(&t.name) || t.layout.is_some() {
                continue;
            }
            let row = depth.get(t.name.as_str()).copied().unwrap_or(0);
            let (line, next) = bands.entry(row).or_insert((0, MARGIN));
            if *next > MARGIN && *next + width > ROW_WIDTH {
                (*line, *next) = (*line + 1, MARGIN);
            }
            spot.insert(t.name.as_str(), (row, *line, *next));
            *next += width + GAP_X;
        }
        // Each band starts below the lines of the bands above it.
        let deepest = bands.keys().next_back().copied().unwrap_or(0);
        let mut band_y = Vec::with_capacity(deepest + 1);
        let mut y = MARGIN;
        for row in 0..=deepest {
            band_y.push(y);
            let lines = bands.get(&row).map_or(1, |(line, _)| line + 1);
            y += (lines - 1) as f64 * (BOX_HEIGHT + WRAP_GAP_Y) + BOX_HEIGHT + GAP_Y;
        }
        let boxes: Vec<BoxView> = members
            .into_iter()
            .map(|(t, own, width)| {
                let saved = t.layout.map(|l| (l.x, l.y));
                let (x, y) = placed.get(&t.name).copied().or(saved).unwrap_or_else(|| {
                    let (row, line, x) = spot[t.name.as_str()];
                    (x, band_y[row] + line as f64 * (BOX_HEIGHT + WRAP_GAP_Y))
                });
                BoxView {
                    name: t.name.clone(),
                    type_name: t.type_name.clone(),
                    x,
                    y,
                    width,
                    inlets: spread(own.inlets, width),
                    outlets: spread(own.outlets, width),
                }
            })
            .collect();
        // `box/port`, or `sub/in0/in` for a subpatch's port (its member's face).
        let by_name: BTreeMap<&str, &BoxView> = boxes.iter().map(|b| (b.name.as_str(), b)).collect();
        let find = |end: &str, outlet: bool| -> Option<(String, f64, f64, bool)> {
            let (name, rest) = end.split_once('/')?;
            let port = rest.split('/').next()?;
            let b = by_name.get(name)?;
            let ((x, y), audio) = b.port_end(port, outlet)?;
            Some((format!("{name}/{port}"), x, y, audio))
        };
        let wires = body
            .connections
            .iter()
            .filter_map(|c| {
                let (from, x0, y0, audio) = find(&c.from, true)?;
                let (to, x1, y1, _) = find(&c.to, false)?;
                Some(WireView { from, to, link: c.clone(), audio, start: (x0, y0), end: (x1, y1) })
            })
            .collect();
        let size = boxes.iter().fold((0.0f64, 0.0f64), |(w, h), b| {
            (w.max(b.x + b.width + MARGIN), h.max(b.y + BOX_HEIGHT + MARGIN))
        });
        PatchView { boxes, wires, size }
    }

    /// The canvas's size: the patch's, and never smaller than a hand can
    /// drop a first box into.
    pub fn canvas_size(&self) -> (f64, f64) {
        (self.size.0.max(400.0), self.size.1.max(240.0))
    }

    /// The box named `name`.
    pub fn find(&self, name: &str) -> Option<&BoxView> {
        self.boxes.iter().find(|b| b.name == name)
    }

    /// The wire passing nearest `point`, if one passes within `reach`: a
    /// wire is a line 1.5 px wide, which a hand does not hit exactly, and a
    /// wider invisible twin for each would double the canvas's elements.
    pub fn wire_near(&self, point: (f64, f64), reach: f64) -> Option<&WireView> {
        self.wires
            .iter()
            .map(|w| (w, distance_to_wire(w, point)))
            .filter(|(_, d)| *d <= reach)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(w, _)| w)
    }
}

impl WireView {
    /// The curve it is drawn as: [`wire_curve`] from its outlet to its inlet.
    pub fn curve(&self) -> [(f64, f64); 4] {
        wire_curve(self.start, self.end)
    }
}

/// The cubic Bézier a wire from `start` to `end` is drawn as: down out of
/// the outlet, into the inlet from above, bending at least 30 px so that a
/// short or backward wire still reads as one.
pub fn wire_curve((x0, y0): (f64, f64), (x1, y1): (f64, f64)) -> [(f64, f64); 4] {
    let bend = ((y1 - y0).abs() / 2.0).max(30.0);
    [(x0, y0), (x0, y0 + bend), (x1, y1 - bend), (x1, y1)]
}

/// How far `point` is from the wire `w` (its curve taken as 32 straight pieces).
fn distance_to_wire(w: &WireView, (px, py): (f64, f64)) -> f64 {
    const PIECES: usize = 32;
    let [p0, p1, p2, p3] = w.curve();
    let at = |t: f64| {
        let u = 1.0 - t;
        let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
        (a * p0.0 + b * p1.0 + c * p2.0 + d * p3.0, a * p0.1 + b * p1.1 + c * p2.1 + d * p3.1)
    };
    let mut nearest = f64::INFINITY;
    let mut from = p0;
    for i in 1..=PIECES {
        let to = at(i as f64 / PIECES as f64);
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let length2 = dx * dx + dy * dy;
        let t = if length2 == 0.0 {
            0.0
        } else {
            (((px - from.0) * dx + (py - from.1) * dy) / length2).clamp(0.0, 1.0)
        };
        let (cx, cy) = (from.0 + t * dx - px, from.1 + t * dy - py);
        nearest = nearest.min((cx * cx + cy * cy).sqrt());
        from = to;
    }
    nearest
}

impl BoxView {
    /// Where a wire meets its port `port` (an outlet's bottom middle, an
    /// inlet's top middle), and whether the port carries audio.
    pub fn port_end(&self, port: &str, outlet: bool) -> Option<((f64, f64), bool)> {
        let list = if outlet { &self.outlets } else { &self.inlets };
        let (info, at) = list.iter().find(|(p, _)| p.name == port)?;
        let y = if outlet { self.y + BOX_HEIGHT } else { self.y };
        Some(((self.x + at + PORT / 2.0, y), info.audio))
    }

    /// The address of one of its ports relative to the patch shown, as
    /// `connect` takes it: a subpatch's port is its member's outer face.
    pub fn port_address(&self, port: &str, outlet: bool) -> String {
        match self.type_name.as_str() {
            "Patch" => format!("{}/{port}/{}", self.name, if outlet { "out" } else { "in" }),
            _ => format!("{}/{port}", self.name),
        }
    }
}

/// Wide enough for its label and for its ports side by side.
fn width(t: &TransformFile, ports: &Ports) -> f64 {
    let label = t.name.len().max(t.type_name.len()) as f64 * CHAR + 16.0;
    let tabs = ports.inlets.len().max(ports.outlets.len()) as f64 * (PORT * 2.0);
    label.max(tabs).max(60.0)
}

/// Ports spread along an edge: the first at the left, the last at the right.
fn spread(ports: Vec<PortInfo>, width: f64) -> Vec<(PortInfo, f64)> {
    let n = ports.len();
    ports
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let x = if n == 1 { 0.0 } else { i as f64 * (width - PORT) / (n - 1) as f64 };
            (p, x)
        })
        .collect()
}

/// Each member's row: the longest chain of wires from a member nothing
/// feeds. A feedback loop stops growing after as many rounds as there are
/// members, so the cost stays quadratic at worst.
fn depths(body: Members<'_>) -> BTreeMap<&str, usize> {
    let mut depth: BTreeMap<&str, usize> = body.transforms.iter().map(|t| (t.name.as_str(), 0)).collect();
    let edges: Vec<(&str, &str)> = body
        .connections
        .iter()
        .filter_map(|c| Some((c.from.split_once('/')?.0, c.to.split_once('/')?.0)))
        .filter(|(a, b)| a != b)
        .collect();
    for _ in 0..body.transforms.len() {
        let mut changed = false;
        for (a, b) in &edges {
            let (Some(&da), Some(&db)) = (depth.get(a), depth.get(b)) else { continue };
            if db < da + 1 && da < body.transforms.len() {
                depth.insert(b, da + 1);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    fn wire(from: &str, start: (f64, f64), end: (f64, f64)) -> WireView {
        WireView {
            from: from.into(),
            to: "b/in".into(),
            link: ConnectionFile { from: from.into(), to: "b/in".into() },
            audio: false,
            start,
            end,
        }
    }

    #[test]
    fn the_wire_nearest_a_click_is_found_within_reach_only() {
        let view = PatchView {
            wires: vec![wire("a/out", (0.0, 0.0), (0.0, 200.0)), wire("c/out", (100.0, 0.0), (100.0, 200.0))],
            ..PatchView::default()
        };
        let near = |x: f64, y: f64| view.wire_near((x, y), 6.0).map(|w| w.from.as_str());
        // A vertical wire is a straight line: 4 px beside it is near, 10 px is not.
        assert_eq!(near(4.0, 100.0), Some("a/out"));
        assert_eq!(near(96.0, 100.0), Some("c/out"));
        assert_eq!(near(10.0, 100.0), None);
        assert_eq!(near(50.0, 100.0), None);
        // Beyond its ends there is no wire.
        assert_eq!(near(0.0, 210.0), None);
    }

    #[test]
    fn a_bent_wire_is_near_where_it_is_drawn() {
        let w = wire("a/out", (0.0, 0.0), (100.0, 100.0));
        let [p0, p1, p2, p3] = w.curve();
        assert_eq!([p0, p1, p2, p3], [(0.0, 0.0), (0.0, 50.0), (100.0, 50.0), (100.0, 100.0)]);
        // Its middle (t = 0.5) is at (50, 50); the straight line between the ends also
        // passes there, but at x = 10 the curve is still low, near its start's tangent.
        assert!(distance_to_wire(&w, (50.0, 50.0)) < 0.5);
        assert!(distance_to_wire(&w, (10.0, 10.0)) > 6.0, "the chord is not the wire");
    }

    use super::*;
    use crate::engine::ConnectionFile;
    use crate::engine::Layout;

    fn transform(name: &str, type_name: &str) -> TransformFile {
        TransformFile {
            name: name.into(),
            type_name: type_name.into(),
            args: String::new(),
            renamed: BTreeMap::new(),
            values: BTreeMap::new(),
            patch: None,
            layout: None,
        }
    }

    fn port(name: &str, audio: bool) -> PortInfo {
        PortInfo { name: name.into(), audio }
    }

    /// sine -> lp -> out, in the file's (name) order.
    fn chain() -> (Body, PortMap) {
        let body = Body {
            transforms: vec![
                transform("lp", "Lowpass"),
                transform("out", "AudioOutput"),
                transform("sine", "Sinewave"),
            ],
            connections: vec![
                ConnectionFile { from: "sine/samplesOut".into(), to: "lp/samplesIn".into() },
                ConnectionFile { from: "lp/samplesOut".into(), to: "out/mix".into() },
            ],
        };
        let mut ports = PortMap::default();
        let audio_in_out = Ports {
            inlets: vec![port("samplesIn", true), port("freq", false)],
            outlets: vec![port("samplesOut", true)],
        };
        ports.0.insert("/patch/lp".into(), audio_in_out);
        ports.0.insert(
            "/patch/out".into(),
            Ports { inlets: vec![port("mix", true), port("onoff", false)], outlets: vec![] },
        );
        ports.0.insert(
            "/patch/sine".into(),
            Ports { inlets: vec![port("freq", false)], outlets: vec![port("samplesOut", true)] },
        );
        (body, ports)
    }

    #[test]
    fn a_chain_reads_top_to_bottom_and_its_wires_join_the_ports_they_name() {
        let (body, ports) = chain();
        let view = PatchView::of("/patch", (&body).into(), &ports, &BTreeMap::new());
        let y = |n: &str| view.find(n).unwrap().y;
        assert!(y("sine") < y("lp") && y("lp") < y("out"), "{view:?}");
        assert_eq!(view.wires.len(), 2);
        let first = &view.wires[0];
        let (sine, lp) = (view.find("sine").unwrap(), view.find("lp").unwrap());
        assert_eq!(first.start, (sine.x + PORT / 2.0, sine.y + BOX_HEIGHT), "from the outlet's bottom");
        assert_eq!(first.end, (lp.x + PORT / 2.0, lp.y), "to the first inlet's top");
        assert!(first.audio);
        assert!(view.size.0 >= sine.x + sine.width && view.size.1 >= y("out") + BOX_HEIGHT);
    }

    #[test]
    fn a_wide_band_wraps_and_the_bands_below_make_room() {
        // 40 sources into one sink: 40 boxes at depth 0, one at depth 1.
        let mut transforms: Vec<TransformFile> =
            (0..40).map(|i| transform(&format!("s{i:02}"), "Sinewave")).collect();
        transforms.push(transform("zsum", "Add~"));
        let connections = (0..40)
            .map(|i| ConnectionFile { from: format!("s{i:02}/samplesOut"), to: "zsum/samplesIn".into() })
            .collect();
        let body = Body { transforms, connections };
        let mut ports = PortMap::default();
        for i in 0..40 {
            let own = Ports { inlets: vec![], outlets: vec![port("samplesOut", true)] };
            ports.0.insert(format!("/patch/s{i:02}"), own);
        }
        ports
            .0
            .insert("/patch/zsum".into(), Ports { inlets: vec![port("samplesIn", true)], outlets: vec![] });
        let view = PatchView::of("/patch", (&body).into(), &ports, &BTreeMap::new());
        assert!(view.size.0 <= ROW_WIDTH + MARGIN, "no wider than a band: {:?}", view.size);
        let sources: Vec<&BoxView> = view.boxes.iter().filter(|b| b.name.starts_with('s')).collect();
        let lines: std::collections::BTreeSet<u64> = sources.iter().map(|b| b.y as u64).collect();
        assert!(lines.len() > 1, "the band wrapped");
        let lowest = sources.iter().map(|b| b.y).fold(0.0, f64::max);
        assert!(view.find("zsum").unwrap().y > lowest + BOX_HEIGHT, "the next band is below all of them");
        // No two boxes overlap.
        for (i, a) in view.boxes.iter().enumerate() {
            for b in &view.boxes[i + 1..] {
                let apart = a.x + a.width <= b.x
                    || b.x + b.width <= a.x
                    || a.y + BOX_HEIGHT <= b.y
                    || b.y + BOX_HEIGHT <= a.y;
                assert!(apart, "{} and {} overlap", a.name, b.name);
            }
        }
    }

    #[test]
    fn ports_spread_across_the_box_and_placed_boxes_stay_where_they_were_put() {
        let (body, ports) = chain();
        let placed = BTreeMap::from([("lp".to_owned(), (300.0, 5.0))]);
        let view = PatchView::of("/patch", (&body).into(), &ports, &placed);
        let lp = view.find("lp").unwrap();
        assert_eq!((lp.x, lp.y), (300.0, 5.0));
        assert_eq!(lp.inlets[0].1, 0.0);
        assert_eq!(lp.inlets[1].1, lp.width - PORT, "the last inlet at the right edge");
        assert_eq!(view.wires[0].end.0, 300.0 + PORT / 2.0, "wires follow a moved box");
    }

    #[test]
    fn the_files_layout_places_a_box_and_a_drag_goes_ahead_of_it() {
        let (mut body, ports) = chain();
        body.transforms.iter_mut().find(|t| t.name == "out").unwrap().layout = Layout::new(500.0, 40.0);
        let view = PatchView::of("/patch", (&body).into(), &ports, &BTreeMap::new());
        let out = view.find("out").unwrap();
        assert_eq!((out.x, out.y), (500.0, 40.0));
        let dragging = BTreeMap::from([("out".to_owned(), (80.0, 90.0))]);
        let out = PatchView::of("/patch", (&body).into(), &ports, &dragging).find("out").cloned().unwrap();
        assert_eq!((out.x, out.y), (80.0, 90.0));
        assert_eq!(Layout::new(f64::NAN, 0.0), None);
        assert_eq!(Layout::new(0.0, 2.0e6), None);
    }

    #[test]
    fn a_subpatchs_ports_are_its_border_members_wired_by_their_outer_face() {
        let body = Body {
            transforms: vec![transform("sine", "Sinewave"), transform("sub", "Patch")],
            connections: vec![ConnectionFile { from: "sine/samplesOut".into(), to: "sub/in0/in".into() }],
        };
        let mut ports = PortMap::default();
        ports
            .0
            .insert("/patch/sine".into(), Ports { inlets: vec![], outlets: vec![port("samplesOut", true)] });
        ports.0.insert(
            "/patch/sub".into(),
            Ports { inlets: vec![port("in0", true)], outlets: vec![port("out0", true)] },
        );
        let view = PatchView::of("/patch", (&body).into(), &ports, &BTreeMap::new());
        assert_eq!((view.wires[0].from.as_str(), view.wires[0].to.as_str()), ("sine/samplesOut", "sub/in0"));
        let sub = view.find("sub").unwrap();
        assert_eq!(sub.port_address("in0", false), "sub/in0/in");
        assert_eq!(sub.port_address("out0", true), "sub/out0/out");
        assert_eq!(view.find("sine").unwrap().port_address("samplesOut", true), "sine/samplesOut");
    }

    #[test]
    fn feedback_and_unknown_ends_do_not_break_the_layout() {
        let (mut body, ports) = chain();
        body.connections.push(ConnectionFile { from: "out/nothing".into(), to: "sine/freq".into() });
        body.connections.push(ConnectionFile { from: "lp/samplesOut".into(), to: "sine/freq".into() });
        let view = PatchView::of("/patch", (&body).into(), &ports, &BTreeMap::new());
        assert_eq!(view.boxes.len(), 3);
        assert_eq!(view.wires.len(), 3, "a wire to an unknown port is not drawn");
        assert!(view.boxes.iter().all(|b| b.y.is_finite()));
    }
}
