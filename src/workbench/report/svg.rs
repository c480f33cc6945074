//! Inline SVG charts generated in Rust: line/scatter charts with linear or log axes, and heatmaps.
//! No external resources: the report opens offline as one file.
//!
//! Interactivity (the value under the cursor, series toggled from the legend, as Gatling's and k6's reports allow)
//! is [`SCRIPT`], ~40 lines of inline JavaScript over the SVG drawn here: every marker carries its raw values
//! (`data-x`, `data-y`, `data-label`), every legend entry (`g.legend-entry`) toggles its series (`g.series.off`).
//! Why not a charting library (uPlot, the smallest well-kept one, 50 kB minified): the charts need a log axis with
//! percentile ticks (1/(1−p)), a shaded warm-up band, collision-free point labels, heatmaps and stable ids/classes
//! that the Chromium test reads; each is already here and tested, and uPlot would have to be taught all of them
//! again (plus vendored, licensed, and fed from JSON), for the two behaviours the script adds.

use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 360.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 160.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 56.0;
const COLORS: [&str; 10] =
    ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/// Escapes text for XML/HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Makes an HTML id from free text.
pub fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// An axis: label with unit, scale, and optional custom tick labels.
#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    pub log: bool,
    /// Custom ticks (value, label), e.g. percentile labels on a 1/(1−p) axis.
    pub ticks: Option<Vec<(f64, String)>>,
    /// Values are 1/(1−p): the hover shows them as the percentile p.
    pub percentile: bool,
}

impl Axis {
    pub fn linear(label: &str) -> Axis {
        Axis { label: label.into(), log: false, ticks: None, percentile: false }
    }

    pub fn log(label: &str) -> Axis {
        Axis { label: label.into(), log: true, ticks: None, percentile: false }
    }

    /// A log axis of 1/(1−p) with these percentile ticks.
    pub fn percentile(label: &str, ticks: Vec<(f64, String)>) -> Axis {
        Axis { label: label.into(), log: true, ticks: Some(ticks), percentile: true }
    }

    /// The value as the hover shows it (`data-x`/`data-y`): a percentile axis gives p in %.
    fn hover_value(&self, v: f64) -> String {
        if self.percentile { format!("p{}", trim_pct(100.0 * (1.0 - 1.0 / v))) } else { hover_num(v) }
    }
}

/// Makes the charts interactive: a tooltip (`#chart-tip`) with the series, label and values of the marker nearest
/// the cursor (within 12 px), and legend entries that hide or show their series on click (or Enter). Inline, so the
/// report stays one file; see the module documentation for why not a charting library.
pub const SCRIPT: &str = r#"(() => {
  const tip = document.createElement("div");
  tip.id = "chart-tip"; tip.hidden = true; document.body.append(tip);
  for (const svg of document.querySelectorAll("svg.chart")) {
    const pts = [...svg.querySelectorAll("circle.pt")];
    const near = (e) => {
      let best = null, bd = 144;
      for (const c of pts) {
        if (c.closest(".series.off")) continue;
        const r = c.getBoundingClientRect();
        const dx = r.x + r.width / 2 - e.clientX, dy = r.y + r.height / 2 - e.clientY;
        if (dx * dx + dy * dy <= bd) { bd = dx * dx + dy * dy; best = c; }
      }
      return best;
    };
    svg.addEventListener("mousemove", (e) => {
      const c = near(e);
      for (const h of svg.querySelectorAll("circle.hover")) h.classList.remove("hover");
      if (!c) { tip.hidden = true; return; }
      c.classList.add("hover");
      const d = c.dataset, name = c.closest(".series").dataset.name;
      tip.textContent = `${name}${d.label ? " · " + d.label : ""}: ${svg.dataset.xLabel} = ${d.x}; ${svg.dataset.yLabel} = ${d.y}`;
      tip.style.left = `${e.pageX + 14}px`; tip.style.top = `${e.pageY + 14}px`; tip.hidden = false;
    });
    svg.addEventListener("mouseleave", () => { tip.hidden = true; });
    for (const l of svg.querySelectorAll(".legend-entry")) {
      const toggle = () => {
        const off = l.closest(".series").classList.toggle("off");
        l.setAttribute("aria-pressed", String(!off));
        tip.hidden = true;
      };
      l.addEventListener("click", toggle);
      l.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
    }
  }
})();"#;

/// The style [`SCRIPT`] relies on: hidden series, the tooltip, the hovered marker.
pub const CSS: &str = "g.series.off .marks{display:none}g.series.off .legend-entry{opacity:.35}\
.legend-entry{cursor:pointer;pointer-events:bounding-box}circle.hover{stroke:#000;stroke-width:2}#chart-tip{position:absolute;pointer-events:none;\
background:#fff;border:1px solid #888;border-radius:3px;padding:3px 6px;font-size:12px;box-shadow:0 1px 4px #0003;\
white-space:nowrap}";

/// A value formatted for `data-x`/`data-y`: at most 4 significant digits past the integer part.
fn hover_num(v: f64) -> String {
    if v.abs() >= 1000.0 { format!("{v:.0}") } else { format!("{}", (v * 1000.0).round() / 1000.0) }
}

/// One series: points with optional labels drawn beside them.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub labels: Vec<String>,
    /// Draw lines between points (else markers only).
    pub line: bool,
}

/// A line or scatter chart.
#[derive(Debug, Clone)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    /// An x range shaded behind the series, with its label (the warm-up on the over-time charts).
    pub x_band: Option<(f64, f64, String)>,
}

struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    from: f64,
    to: f64,
}

impl Scale {
    fn new(values: impl Iterator<Item = f64>, log: bool, from: f64, to: f64) -> Scale {
        let vals: Vec<f64> = values.filter(|v| v.is_finite() && (!log || *v > 0.0)).collect();
        let (mut lo, mut hi) = vals.iter().fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        if vals.is_empty() {
            (lo, hi) = (1.0, 10.0);
        }
        if log {
            lo = 10f64.powf(lo.log10().floor());
            hi = 10f64.powf(hi.log10().ceil());
            if hi <= lo {
                hi = lo * 10.0;
            }
        } else {
            lo = lo.min(0.0);
            if hi <= lo {
                hi = lo + 1.0;
            }
            hi *= 1.05;
        }
        Scale { lo, hi, log, from, to }
    }

    fn map(&self, v: f64) -> f64 {
        let f = if self.log {
            (v.max(self.lo).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        self.from + f * (self.to - self.from)
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        if self.log {
            let mut t = Vec::new();
            let mut v = self.lo;
            while v <= self.hi * 1.0001 {
                t.push((v, fmt_num(v)));
                v *= 10.0;
            }
            t
        } else {
            let step = nice_step((self.hi - self.lo) / 5.0);
            let mut t = Vec::new();
            let mut v = (self.lo / step).ceil() * step;
            while v <= self.hi {
                t.push((v, fmt_num(v)));
                v += step;
            }
            t
        }
    }
}

fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    mag * if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// Compact number: 1.5k, 2M, 0.25.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{}G", trim(v / 1e9))
    } else if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// A percentile without float noise: 99.9, not 99.90000000000001.
fn trim_pct(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Characters of 11 px legend text that fit in the right margin.
const LEGEND_RIGHT_CHARS: usize = 21;
/// Characters per column when the legend sits below the plot (two columns).
const LEGEND_BELOW_CHARS: usize = 52;
const LEGEND_ROW: f64 = 16.0;

/// Shortens `s` to `max` characters by cutting its middle, where sweep point names differ least.
fn elide(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let chars: Vec<char> = s.chars().collect();
    chars[..head].iter().chain(['…'].iter()).chain(chars[n - tail..].iter()).collect()
}

/// A drawable point of a series (raw x, y) and its label, if any.
type Drawn<'a> = ((f64, f64), Option<&'a String>);

/// Font size of the point labels.
const LABEL_FONT: f64 = 9.0;
/// Width of a label's character at [`LABEL_FONT`], on the safe side (sans-serif digits are ~5 px).
const LABEL_CHAR_W: f64 = 6.0;

/// An axis-aligned box in SVG units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }

    fn inside(&self, o: &Rect) -> bool {
        self.x0 >= o.x0 && self.x1 <= o.x1 && self.y0 >= o.y0 && self.y1 <= o.y1
    }
}

/// The box a label takes with its baseline starting at (bx, by), with a 1 px margin.
fn label_box(bx: f64, by: f64, text: &str) -> Rect {
    let w = text.chars().count() as f64 * LABEL_CHAR_W;
    Rect { x0: bx - 1.0, y0: by - LABEL_FONT - 1.0, x1: bx + w + 1.0, y1: by + 3.0 }
}

/// Places the labels of points (x, y, text) so that no two overlap: for each, in order, the first free spot among
/// right/left/above/below the point, then the same further out, preferring spots that cover no marker either.
/// Returns each label's baseline start, or `None` when no spot inside `plot` is free (the label then lives in the
/// hover only). A greedy search, written here because the few candidates per label make it exact enough for a
/// sweep's dozens of points and a layout library (d3-force, labella) would mean a JavaScript dependency.
pub fn place_labels(labels: &[(f64, f64, &str)], markers: &[(f64, f64)], plot: Rect) -> Vec<Option<(f64, f64)>> {
    let marker_boxes: Vec<Rect> =
        markers.iter().map(|(x, y)| Rect { x0: x - 3.5, y0: y - 3.5, x1: x + 3.5, y1: y + 3.5 }).collect();
    let mut taken: Vec<Rect> = Vec::new();
    let mut out = Vec::with_capacity(labels.len());
    for &(x, y, text) in labels {
        let w = text.chars().count() as f64 * LABEL_CHAR_W;
        let mut candidates = Vec::new();
        for ring in 0..6 {
            let d = 12.0 * ring as f64;
            candidates.extend([
                (x + 5.0, y - 4.0 - d),
                (x + 5.0, y + 11.0 + d),
                (x - 5.0 - w, y - 4.0 - d),
                (x - 5.0 - w, y + 11.0 + d),
                (x - w / 2.0, y - 6.0 - d),
                (x - w / 2.0, y + 14.0 + d),
                (x + 6.0 + d, y + 3.0),
                (x - 6.0 - w - d, y + 3.0),
            ]);
        }
        let fits = |b: &Rect| b.inside(&plot) && !taken.iter().any(|t| t.overlaps(b));
        let clear = |b: &Rect| !marker_boxes.iter().any(|m| m.overlaps(b));
        let spot = candidates
            .iter()
            .find(|(bx, by)| {
                let b = label_box(*bx, *by, text);
                fits(&b) && clear(&b)
            })
            .or_else(|| candidates.iter().find(|(bx, by)| fits(&label_box(*bx, *by, text))))
            .copied();
        if let Some((bx, by)) = spot {
            taken.push(label_box(bx, by, text));
        }
        out.push(spot);
    }
    out
}

impl Chart {
    /// True when the legend goes below the plot: long names (sweep points) or more than fit beside it.
    fn legend_below(&self) -> bool {
        self.series.iter().any(|s| s.name.chars().count() > LEGEND_RIGHT_CHARS)
            || self.series.len() as f64 * 14.0 > H - TOP - BOTTOM
    }

    /// Renders the chart as an `<svg class="chart" id=...>` element.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let below = self.legend_below();
        let right = if below { W - 30.0 } else { W - RIGHT };
        let height = if below { H + 8.0 + LEGEND_ROW * self.series.len().div_ceil(2) as f64 } else { H };
        let band_xs = self.x_band.iter().flat_map(|(a, b, _)| [*a, *b]);
        let xs = Scale::new(
            self.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).chain(band_xs),
            self.x.log,
            LEFT,
            right,
        );
        let ys = Scale::new(self.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)), self.y.log, H - BOTTOM, TOP);
        let _ = write!(
            s,
            r#"<svg class="chart" id="{}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" role="img" data-x-label="{}" data-y-label="{}"><title>{}</title>"#,
            esc(&self.id),
            esc(&self.x.label),
            esc(&self.y.label),
            esc(&self.title)
        );
        let _ = write!(
            s,
            r#"<text class="chart-title" x="{}" y="20" text-anchor="middle">{}</text>"#,
            (LEFT + right) / 2.0,
            esc(&self.title)
        );
        if let Some((a, b, label)) = &self.x_band {
            let (xa, xb) = (xs.map(*a).clamp(LEFT, right), xs.map(*b).clamp(LEFT, right));
            if xb > xa {
                let _ = write!(
                    s,
                    r##"<g class="band" data-from="{a}" data-to="{b}"><rect class="band" x="{xa:.1}" y="{TOP}" width="{:.1}" height="{}" fill="#f2e8d5"><title>{}</title></rect><text x="{:.1}" y="{}" font-size="10" fill="#8a6d3b" text-anchor="middle">{}</text></g>"##,
                    xb - xa,
                    H - BOTTOM - TOP,
                    esc(label),
                    (xa + xb) / 2.0,
                    TOP + 12.0,
                    esc(label)
                );
            }
        }
        self.axes(&mut s, &xs, &ys, right);
        let visible = |(x, y): &(f64, f64)| {
            x.is_finite() && y.is_finite() && (!self.x.log || *x > 0.0) && (!self.y.log || *y > 0.0)
        };
        // Per series: (raw point, label) of the drawable points, and where each lands on the plot.
        let drawn: Vec<Vec<Drawn>> = self
            .series
            .iter()
            .map(|series| {
                series
                    .points
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| visible(p))
                    .map(|(j, p)| (*p, series.labels.get(j)))
                    .collect()
            })
            .collect();
        let at = |(x, y): (f64, f64)| (xs.map(x), ys.map(y));
        let markers: Vec<(f64, f64)> = drawn.iter().flatten().map(|(p, _)| at(*p)).collect();
        let wanted: Vec<(f64, f64, &str)> =
            drawn.iter().flatten().filter_map(|(p, l)| l.map(|l| (at(*p).0, at(*p).1, l.as_str()))).collect();
        let plot = Rect { x0: LEFT, y0: TOP, x1: right, y1: H - BOTTOM };
        let placed = place_labels(&wanted, &markers, plot);
        let mut next_label = placed.iter();
        let mut hidden = 0usize;
        for (i, (series, points)) in self.series.iter().zip(&drawn).enumerate() {
            let color = COLORS[i % COLORS.len()];
            let _ = write!(s, r#"<g class="series" data-name="{}"><g class="marks">"#, esc(&series.name));
            if series.line && points.len() > 1 {
                let path: Vec<String> = points
                    .iter()
                    .map(|(p, _)| {
                        let (x, y) = at(*p);
                        format!("{x:.1},{y:.1}")
                    })
                    .collect();
                let _ = write!(
                    s,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
                    path.join(" ")
                );
            }
            for (p, label) in points {
                let (x, y) = at(*p);
                let _ = write!(
                    s,
                    r#"<circle class="pt" cx="{x:.1}" cy="{y:.1}" r="3" fill="{color}" data-x="{}" data-y="{}"{}/>"#,
                    esc(&self.x.hover_value(p.0)),
                    esc(&self.y.hover_value(p.1)),
                    label.map_or(String::new(), |l| format!(r#" data-label="{}""#, esc(l)))
                );
            }
            for (_, label) in points {
                let Some(label) = label else { continue };
                match next_label.next().copied().flatten() {
                    Some((bx, by)) => {
                        let _ = write!(
                            s,
                            r#"<text class="point-label" x="{bx:.1}" y="{by:.1}" font-size="{LABEL_FONT}">{}</text>"#,
                            esc(label)
                        );
                    }
                    None => hidden += 1,
                }
            }
            s.push_str("</g>");
            let (lx, ly, chars) = if below {
                let col = (i % 2) as f64 * (W - 40.0) / 2.0;
                (20.0 + col, H + 4.0 + LEGEND_ROW * (i / 2) as f64, LEGEND_BELOW_CHARS)
            } else {
                (W - RIGHT + 12.0, TOP + 14.0 * i as f64, LEGEND_RIGHT_CHARS)
            };
            let _ = write!(
                s,
                r#"<g class="legend-entry" role="button" tabindex="0" aria-pressed="true"><rect x="{lx}" y="{ly}" width="10" height="10" fill="{color}"/><text class="legend" x="{}" y="{}" font-size="11"><title>{} (click to hide or show)</title>{}</text></g></g>"#,
                lx + 14.0,
                ly + 9.0,
                esc(&series.name),
                esc(&elide(&series.name, chars))
            );
        }
        if hidden > 0 {
            let _ = write!(
                s,
                r##"<text class="labels-hidden" x="{right}" y="{}" font-size="10" text-anchor="end" fill="#666">{hidden} label{} without room: hover the points</text>"##,
                TOP - 4.0,
                if hidden == 1 { "" } else { "s" }
            );
        }
        s.push_str("</svg>");
        s
    }

    fn axes(&self, s: &mut String, xs: &Scale, ys: &Scale, right: f64) {
        let (x0, x1, y0, y1) = (LEFT, right, H - BOTTOM, TOP);
        let _ = write!(
            s,
            r##"<g class="axes" stroke="#444"><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}"/></g>"##
        );
        let xt = self.x.ticks.clone().unwrap_or_else(|| xs.ticks());
        for (v, label) in xt {
            let x = xs.map(v);
            if !(x0 - 0.5..=x1 + 0.5).contains(&x) {
                continue;
            }
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}" stroke="#eee"/><text x="{x:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"##,
                y0 + 14.0,
                esc(&label)
            );
        }
        for (v, label) in self.y.ticks.clone().unwrap_or_else(|| ys.ticks()) {
            let y = ys.map(v);
            if !(y1 - 0.5..=y0 + 0.5).contains(&y) {
                continue;
            }
            let _ = write!(
                s,
                r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
                x0 - 4.0,
                y + 3.0,
                esc(&label)
            );
        }
        let _ = write!(
            s,
            r#"<text class="axis-label x" x="{}" y="{}" text-anchor="middle" font-size="12">{}</text>"#,
            (x0 + x1) / 2.0,
            H - 12.0,
            esc(&self.x.label)
        );
        let _ = write!(
            s,
            r#"<text class="axis-label y" transform="translate(16,{}) rotate(-90)" text-anchor="middle" font-size="12">{}</text>"#,
            (y0 + y1) / 2.0,
            esc(&self.y.label)
        );
    }
}

/// Relative spread (best vs worst) at which a heatmap shows its full colors; smaller spreads are paler, so a
/// 0.5 % difference (noise) is not painted as red against green.
pub const HEATMAP_FULL_SPREAD: f64 = 0.2;

/// Light red (bad) → pale yellow (middle) → light green (good), for black text on top.
fn diverging(good: f64) -> String {
    const BAD: [f64; 3] = [229.0, 115.0, 115.0];
    const MID: [f64; 3] = [250.0, 240.0, 190.0];
    const GOOD: [f64; 3] = [129.0, 199.0, 132.0];
    let g = good.clamp(0.0, 1.0);
    let (a, b, t) = if g < 0.5 { (BAD, MID, g * 2.0) } else { (MID, GOOD, g * 2.0 - 1.0) };
    let c: Vec<u8> = (0..3).map(|i| (a[i] + (b[i] - a[i]) * t).round() as u8).collect();
    format!("rgb({},{},{})", c[0], c[1], c[2])
}

/// A heatmap: `cells[y][x]`, colored from worst (red) to best (green); values printed in cells.
#[derive(Debug, Clone)]
pub struct Heatmap {
    pub id: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_values: Vec<String>,
    pub y_values: Vec<String>,
    pub cells: Vec<Vec<Option<f64>>>,
    /// True when higher values are better (throughput): then high is green; else high is red.
    pub higher_is_better: bool,
}

impl Heatmap {
    pub fn render(&self) -> String {
        let (nx, ny) = (self.x_values.len().max(1), self.y_values.len().max(1));
        let (cw, ch) = ((W - LEFT - 40.0) / nx as f64, (H - TOP - BOTTOM) / ny as f64);
        let vals: Vec<f64> = self.cells.iter().flatten().flatten().copied().filter(|v| v.is_finite()).collect();
        let lo = vals.iter().copied().fold(f64::MAX, f64::min);
        let hi = vals.iter().copied().fold(f64::MIN, f64::max);
        let top = hi.abs().max(lo.abs());
        let strength = if top > 0.0 { ((hi - lo) / top / HEATMAP_FULL_SPREAD).min(1.0) } else { 0.0 };
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="chart heatmap" id="{}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img"><title>{}</title><text class="chart-title" x="{}" y="20" text-anchor="middle">{}</text>"#,
            esc(&self.id),
            esc(&self.title),
            W / 2.0,
            esc(&self.title)
        );
        for (yi, row) in self.cells.iter().enumerate() {
            for (xi, cell) in row.iter().enumerate() {
                let (x, y) = (LEFT + xi as f64 * cw, TOP + yi as f64 * ch);
                let (fill, text) = match cell {
                    Some(v) if v.is_finite() => {
                        let f = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                        let good = if self.higher_is_better { f } else { 1.0 - f };
                        (diverging(0.5 + (good - 0.5) * strength), fmt_num(*v))
                    }
                    _ => ("#ddd".to_string(), "–".to_string()),
                };
                let _ = write!(
                    s,
                    r#"<rect class="cell" x="{x:.1}" y="{y:.1}" width="{cw:.1}" height="{ch:.1}" fill="{fill}" stroke="white"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
                    x + cw / 2.0,
                    y + ch / 2.0 + 4.0,
                    esc(&text)
                );
            }
        }
        for (xi, v) in self.x_values.iter().enumerate() {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
                LEFT + (xi as f64 + 0.5) * cw,
                H - BOTTOM + 14.0,
                esc(v)
            );
        }
        for (yi, v) in self.y_values.iter().enumerate() {
            let _ = write!(
                s,
                r#"<text x="{}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"#,
                LEFT - 4.0,
                TOP + (yi as f64 + 0.5) * ch + 3.0,
                esc(v)
            );
        }
        let _ = write!(
            s,
            r#"<text class="axis-label x" x="{}" y="{}" text-anchor="middle" font-size="12">{}</text>"#,
            W / 2.0,
            H - 12.0,
            esc(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text class="axis-label y" transform="translate(16,{}) rotate(-90)" text-anchor="middle" font-size="12">{}</text></svg>"#,
            H / 2.0,
            esc(&self.y_label)
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_scale_maps_decades_evenly() {
        let s = Scale::new([3.0, 700.0].into_iter(), true, 0.0, 300.0);
        assert_eq!((s.lo, s.hi), (1.0, 1000.0));
        assert!((s.map(10.0) - 100.0).abs() < 1e-9 && (s.map(100.0) - 200.0).abs() < 1e-9);
        assert_eq!(s.ticks().iter().map(|t| t.1.as_str()).collect::<Vec<_>>(), ["1", "10", "100", "1k"]);
    }

    #[test]
    fn chart_has_id_class_labels_and_escapes() {
        let c = Chart {
            id: "tput-vs-latency-batch.size".into(),
            title: "a < b".into(),
            x: Axis::linear("throughput (records/s)"),
            y: Axis::log("response time (ms)"),
            series: vec![Series {
                name: "p99".into(),
                points: vec![(1.0, 2.0), (3.0, 40.0)],
                labels: vec!["16k".into()],
                line: true,
            }],
            x_band: None,
        };
        let svg = c.render();
        assert!(!svg.contains("class=\"band\""));
        assert!(svg.starts_with(r#"<svg class="chart" id="tput-vs-latency-batch.size""#));
        assert!(svg.contains("throughput (records/s)") && svg.contains("response time (ms)"));
        assert!(svg.contains("a &lt; b") && svg.contains("<polyline") && svg.contains(">16k<"));
        assert_eq!(svg.matches("<circle").count(), 2);
    }

    #[test]
    fn x_band_is_shaded_behind_the_series_and_widens_the_axis() {
        let c = Chart {
            id: "rate-over-time".into(),
            title: "t".into(),
            x: Axis::linear("time (s)"),
            y: Axis::linear("rate"),
            series: vec![Series { name: "a".into(), points: vec![(3.0, 1.0), (4.0, 2.0)], labels: vec![], line: true }],
            x_band: Some((0.0, 2.0, "warm-up".into())),
        };
        let svg = c.render();
        let band = svg.find(r#"<rect class="band""#).expect("a band");
        assert!(band < svg.find("<polyline").unwrap(), "drawn behind the series");
        assert!(svg.contains(">warm-up</text>"));
        // The axis starts at 0 and the band spans from the left edge of the plot.
        assert!(svg.contains(&format!(r#"<rect class="band" x="{LEFT:.1}""#)), "{svg}");
    }

    #[test]
    fn heatmap_cells() {
        let h = Heatmap {
            id: "heatmap".into(),
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_values: vec!["a".into(), "b".into()],
            y_values: vec!["c".into()],
            cells: vec![vec![Some(1.0), None]],
            higher_is_better: true,
        };
        let svg = h.render();
        assert_eq!(svg.matches(r#"class="cell""#).count(), 2);
        assert!(svg.contains("#ddd"));
    }

    #[test]
    fn heatmap_colors_follow_the_spread_not_just_the_order() {
        let h = |a: f64, b: f64| Heatmap {
            id: "h".into(),
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_values: vec!["a".into(), "b".into()],
            y_values: vec!["c".into()],
            cells: vec![vec![Some(a), Some(b)]],
            higher_is_better: true,
        };
        // 0.4 % apart: both cells stay near the neutral middle color.
        let calm = h(4960.0, 4980.0).render();
        assert!(calm.contains("rgb(250,237,188)") && calm.contains("rgb(248,239,189)"), "{calm}");
        // 50 % apart: full red and full green.
        let loud = h(1000.0, 2000.0).render();
        assert!(loud.contains("rgb(229,115,115)") && loud.contains("rgb(129,199,132)"), "{loud}");
        assert_eq!(diverging(0.5), "rgb(250,240,190)");
    }

    #[test]
    fn long_legends_go_below_and_are_elided_in_the_middle() {
        let series = |name: &str| Series { name: name.into(), points: vec![(1.0, 1.0)], labels: vec![], line: true };
        let mut c = Chart {
            id: "c".into(),
            title: "t".into(),
            x: Axis::linear("x"),
            y: Axis::linear("y"),
            series: vec![series("p50"), series("p99")],
            x_band: None,
        };
        assert!(c.render().contains(&format!(r#"height="{H}""#)), "short names: legend at the right");
        let long = "batch.size=16384-linger.ms=0-compression.type=zstd-acks=all";
        c.series = vec![series(long), series("b"), series("c")];
        let svg = c.render();
        assert!(svg.contains(&format!(r#"height="{}""#, H + 8.0 + 2.0 * LEGEND_ROW)), "{svg}");
        assert!(svg.contains(&format!("<title>{long} (click to hide or show)</title>")), "full name kept as a tooltip");
        let shown = elide(long, LEGEND_BELOW_CHARS);
        assert_eq!(shown.chars().count(), LEGEND_BELOW_CHARS);
        assert!(shown.starts_with("batch.size=16384") && shown.ends_with("acks=all") && shown.contains('…'));
        assert!(svg.contains(&shown));
        assert_eq!(elide("short", 10), "short");
    }

    #[test]
    fn crowded_point_labels_never_overlap() {
        // Twelve sweep points within a few pixels of each other (one throughput, nearly one latency).
        let names: Vec<String> = (0..12).map(|i| format!("batch.size={}", 1024 << i)).collect();
        let series = Series {
            name: "p99".into(),
            points: (0..12).map(|i| (50_000.0 + i as f64 * 10.0, 2.0 + i as f64 * 0.01)).collect(),
            labels: names.clone(),
            line: false,
        };
        let chart = Chart {
            id: "c".into(),
            title: "t".into(),
            x: Axis::linear("throughput (records/s)"),
            y: Axis::log("response time (ms)"),
            series: vec![series],
            x_band: None,
        };
        let svg = chart.render();
        let placed = svg.matches(r#"class="point-label""#).count();
        let hidden: usize = svg
            .split(r#"class="labels-hidden""#)
            .nth(1)
            .map_or(0, |rest| rest.split('>').nth(1).unwrap().split(' ').next().unwrap().parse().unwrap());
        assert_eq!(placed + hidden, 12, "every label is drawn or counted as hover-only: {svg}");
        assert!(placed >= 8, "most labels find room: {placed}");
        // The boxes of the drawn labels, read back from the SVG, are pairwise disjoint.
        let boxes: Vec<Rect> = svg
            .split(r#"<text class="point-label" x=""#)
            .skip(1)
            .map(|t| {
                let x: f64 = t.split('"').next().unwrap().parse().unwrap();
                let y: f64 = t.split(r#"y=""#).nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
                let text = t.split('>').nth(1).unwrap().split('<').next().unwrap();
                label_box(x, y, text)
            })
            .collect();
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
            }
        }
        // Without room at all, a label is left out rather than drawn over another.
        let tiny = Rect { x0: 0.0, y0: 0.0, x1: 100.0, y1: 14.0 };
        let spots = place_labels(&[(50.0, 7.0, "aaaa"), (50.0, 7.0, "bbbb"), (50.0, 7.0, "cccc")], &[], tiny);
        assert_eq!(spots.iter().filter(|s| s.is_some()).count(), 2, "{spots:?}");
    }

    #[test]
    fn markers_carry_their_values_and_legend_entries_toggle_their_series() {
        let chart = Chart {
            id: "spectrum".into(),
            title: "t".into(),
            x: Axis::percentile("percentile", vec![(2.0, "50%".into())]),
            y: Axis::log("response time (ms)"),
            series: vec![Series {
                name: "a<b".into(),
                points: vec![(2.0, 1.23456), (1000.0, 1500.4)],
                labels: vec!["first".into()],
                line: true,
            }],
            x_band: None,
        };
        let svg = chart.render();
        assert!(svg.contains(r#"data-x-label="percentile" data-y-label="response time (ms)""#), "{svg}");
        assert!(svg.contains(r#"data-x="p50" data-y="1.235" data-label="first"/>"#), "{svg}");
        assert!(svg.contains(r#"data-x="p99.9" data-y="1500"/>"#), "{svg}");
        // The legend entry sits in its series' group, outside the marks it hides.
        let series = svg.split(r#"<g class="series" data-name="a&lt;b">"#).nth(1).unwrap();
        let (marks, rest) = series.split_once(r#"<g class="legend-entry""#).unwrap();
        assert!(marks.starts_with(r#"<g class="marks">"#) && marks.contains("<polyline") && marks.ends_with("</g>"));
        assert!(rest.contains(r#"role="button" tabindex="0""#) && rest.contains("click to hide or show"));
        assert!(
            SCRIPT.contains(".legend-entry") && SCRIPT.contains("circle.pt") && CSS.contains("g.series.off .marks")
        );
    }
}
