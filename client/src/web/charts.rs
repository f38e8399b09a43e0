//! Bar charts as inline SVG, drawn on the server: no script, no external file. Each chart is an
//! image with a title and a description (`role="img"`, `aria-labelledby`), every bar carries its
//! number as text, and the series differ in fill pattern as well as colour, so nothing is said by
//! colour alone. The page puts the same figures in a table beneath each chart.
//!
//! Only presentation attributes are used (no `style`), which the page's Content-Security-Policy
//! (`style-src 'self'`) allows. Every element is closed explicitly: in HTML, `<rect/>` is not
//! self-closing outside a foreign-content parser's rules, and maud writes `<rect>` for `rect;`.

use maud::{Markup, html};

/// Text colour: #1a1a1a on white is 17:1.
const INK: &str = "#1a1a1a";
/// Grid lines: light, they carry no information of their own.
const GRID: &str = "#c8c8c8";
/// Axis line: #595959 on white is 7:1.
const AXIS: &str = "#595959";
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

/// How a series is filled. Every colour has at least 4.5:1 contrast against white (WCAG 1.4.11
/// asks 3:1 for graphical objects): dark blue #1d5c8c 7.0:1, rust #a1401a 6.0:1, green #2e6b30 6.6:1,
/// purple #6b3d8f 8.3:1, dark grey #4d4d4d 8.6:1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fill {
    Solid(&'static str),
    /// Diagonal white stripes on the colour, outlined in the colour.
    Striped(&'static str),
    /// White dots on the colour, outlined in the colour.
    Dotted(&'static str),
}

const FILLS: [Fill; 5] = [
    Fill::Solid("#1d5c8c"),
    Fill::Striped("#a1401a"),
    Fill::Dotted("#2e6b30"),
    Fill::Solid("#6b3d8f"),
    Fill::Striped("#4d4d4d"),
];

impl Fill {
    fn colour(self) -> &'static str {
        match self {
            Fill::Solid(c) | Fill::Striped(c) | Fill::Dotted(c) => c,
        }
    }

    /// The `fill` attribute: a colour, or the chart's pattern for series `i`.
    fn paint(self, chart: &str, i: usize) -> String {
        match self {
            Fill::Solid(c) => c.to_owned(),
            Fill::Striped(_) | Fill::Dotted(_) => format!("url(#{chart}-m{i})"),
        }
    }
}

fn fill(i: usize) -> Fill {
    FILLS[i % FILLS.len()]
}

/// A series of values, one per category.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    /// Its name, shown in the legend and, for horizontal bars, beside every bar.
    pub(crate) name: String,
    /// One value per category.
    pub(crate) values: Vec<u64>,
}

/// A chart's identity and words.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Labels<'a> {
    /// A prefix for element ids, unique on the page (`[a-z0-9-]`).
    pub(crate) id: &'a str,
    /// The chart's title (its accessible name).
    pub(crate) title: &'a str,
    /// One or two sentences saying what it shows (its accessible description).
    pub(crate) description: &'a str,
}

/// A coordinate, to one decimal.
fn n(x: f64) -> String {
    let r = (x * 10.0).round() / 10.0;
    if r.fract() == 0.0 { format!("{r:.0}") } else { format!("{r:.1}") }
}

/// A tick step of 1, 2 or 5 × 10^k giving at most five steps up to `max`, and the axis' top.
fn axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let mut magnitude = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            if max.div_ceil(step) <= 5 {
                return (step, max.div_ceil(step) * step);
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// The `<defs>` with the patterns the series need.
fn patterns(chart: &str, series: usize) -> Markup {
    html! {
        defs {
            @for i in 0..series {
                @match fill(i) {
                    Fill::Solid(_) => {}
                    Fill::Striped(c) => {
                        pattern id=(format!("{chart}-m{i}")) patternUnits="userSpaceOnUse" width="8" height="8"
                            patternTransform="rotate(45)" {
                            rect width="8" height="8" fill=(c) {}
                            rect x="0" y="0" width="3" height="8" fill="#ffffff" {}
                        }
                    }
                    Fill::Dotted(c) => {
                        pattern id=(format!("{chart}-m{i}")) patternUnits="userSpaceOnUse" width="7" height="7" {
                            rect width="7" height="7" fill=(c) {}
                            circle cx="3.5" cy="3.5" r="1.6" fill="#ffffff" {}
                        }
                    }
                }
            }
        }
    }
}

/// The legend: a swatch and the series' name as text, in one row from (`x`, `y`).
fn legend(chart: &str, series: &[Series], x: f64, y: f64) -> Markup {
    let mut at = x;
    let mut items = Vec::new();
    for (i, s) in series.iter().enumerate() {
        items.push((i, at, s.name.as_str()));
        // About 7 px per character at 13 px.
        at += 34.0 + 7.0 * s.name.chars().count() as f64;
    }
    html! {
        g {
            @for (i, x0, name) in items {
                rect x=(n(x0)) y=(n(y - 11.0)) width="14" height="14" fill=(fill(i).paint(chart, i))
                    stroke=(fill(i).colour()) stroke-width="1.5" {}
                text x=(n(x0 + 20.0)) y=(n(y)) fill=(INK) { (name) }
            }
        }
    }
}

fn frame(labels: Labels<'_>, width: f64, height: f64, body: Markup) -> Markup {
    let title_id = format!("{}-titel", labels.id);
    let desc_id = format!("{}-beskrivning", labels.id);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="diagram" role="img"
            viewBox=(format!("0 0 {} {}", n(width), n(height))) width="100%"
            preserveAspectRatio="xMinYMin meet"
            aria-labelledby=(title_id) aria-describedby=(desc_id)
            font-family=(FONT) font-size="13" {
            title id=(title_id) { (labels.title) }
            desc id=(desc_id) { (labels.description) }
            rect width=(n(width)) height=(n(height)) fill="#ffffff" {}
            (body)
        }
    }
}

/// Vertical bars: one group per category (labelled beneath), one bar per series in each group,
/// each bar's value written above it (a zero has neither bar nor number; the table has it). For months, or a distribution of waiting times.
pub(crate) fn vertical_bars(labels: Labels<'_>, categories: &[String], series: &[Series]) -> Markup {
    let (width, height) = (760.0, 300.0);
    let (left, right, top, bottom) = (44.0, 12.0, 40.0, 46.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let max = series.iter().flat_map(|s| s.values.iter().copied()).max().unwrap_or(0);
    let (step, top_value) = axis(max);
    let y_of = |v: u64| top + plot_h - plot_h * (v as f64) / (top_value as f64);
    let groups = categories.len().max(1) as f64;
    let group_w = plot_w / groups;
    let gap = (group_w * 0.2).min(16.0);
    let bar_w = ((group_w - gap) / series.len().max(1) as f64).min(48.0);
    let inner = bar_w * series.len() as f64;
    let ticks: Vec<u64> = (0..=top_value / step).map(|k| k * step).collect();
    let long_labels = categories.iter().any(|c| c.chars().count() as f64 * 7.0 > group_w);
    html! {
        (frame(labels, width, height, html! {
            (patterns(labels.id, series.len()))
            (legend(labels.id, series, left, 18.0))
            @for t in &ticks {
                line x1=(n(left)) x2=(n(width - right)) y1=(n(y_of(*t))) y2=(n(y_of(*t)))
                    stroke=(if *t == 0 { AXIS } else { GRID }) stroke-width="1" {}
                text x=(n(left - 6.0)) y=(n(y_of(*t) + 4.0)) text-anchor="end" fill=(INK) { (t) }
            }
            @for (c, category) in categories.iter().enumerate() {
                @let x0 = left + group_w * c as f64 + (group_w - inner) / 2.0;
                @for (i, s) in series.iter().enumerate() {
                    @let v = s.values.get(c).copied().unwrap_or(0);
                    @let x = x0 + bar_w * i as f64;
                    @if v > 0 {
                        rect x=(n(x + 1.0)) y=(n(y_of(v))) width=(n((bar_w - 2.0).max(1.0)))
                            height=(n(y_of(0) - y_of(v))) fill=(fill(i).paint(labels.id, i))
                            stroke=(fill(i).colour()) stroke-width="1.5" {}
                        text x=(n(x + bar_w / 2.0)) y=(n(y_of(v) - 4.0)) text-anchor="middle" fill=(INK)
                            font-size="12" { (v) }
                    }
                }
                @let cx = left + group_w * (c as f64 + 0.5);
                @if long_labels {
                    text x=(n(cx)) y=(n(height - bottom + 16.0)) text-anchor="end" fill=(INK) font-size="12"
                        transform=(format!("rotate(-30 {} {})", n(cx), n(height - bottom + 16.0))) { (category) }
                } @else {
                    text x=(n(cx)) y=(n(height - bottom + 18.0)) text-anchor="middle" fill=(INK) { (category) }
                }
            }
        }))
    }
}

/// Horizontal bars: one block per category (its name as a heading line), one bar per series in
/// each block with the series' name before it and the value after it. For principals, whose names
/// are long.
pub(crate) fn horizontal_bars(labels: Labels<'_>, categories: &[String], series: &[Series]) -> Markup {
    let width = 760.0;
    let label_w = series.iter().map(|s| s.name.chars().count()).max().unwrap_or(0) as f64 * 7.0 + 16.0;
    let (left, right, top) = (label_w.clamp(90.0, 260.0), 56.0, 40.0);
    let (heading_h, bar_h, bar_gap, block_gap) = (22.0, 16.0, 5.0, 14.0);
    let block_h = heading_h + (bar_h + bar_gap) * series.len() as f64 + block_gap;
    let height = top + block_h * categories.len().max(1) as f64 + 4.0;
    let plot_w = width - left - right;
    let max = series.iter().flat_map(|s| s.values.iter().copied()).max().unwrap_or(0);
    let (_, top_value) = axis(max);
    let w_of = |v: u64| plot_w * (v as f64) / (top_value as f64);
    html! {
        (frame(labels, width, height, html! {
            (patterns(labels.id, series.len()))
            (legend(labels.id, series, 8.0, 18.0))
            @for (c, category) in categories.iter().enumerate() {
                @let y0 = top + block_h * c as f64;
                text x="8" y=(n(y0 + 15.0)) fill=(INK) font-weight="bold" { (category) }
                line x1=(n(left)) x2=(n(left)) y1=(n(y0 + heading_h - 2.0))
                    y2=(n(y0 + heading_h + (bar_h + bar_gap) * series.len() as f64)) stroke=(AXIS) {}
                @for (i, s) in series.iter().enumerate() {
                    @let v = s.values.get(c).copied().unwrap_or(0);
                    @let y = y0 + heading_h + (bar_h + bar_gap) * i as f64;
                    text x=(n(left - 8.0)) y=(n(y + bar_h - 3.0)) text-anchor="end" fill=(INK) { (s.name) }
                    @if v > 0 {
                        rect x=(n(left)) y=(n(y)) width=(n(w_of(v).max(1.0))) height=(n(bar_h))
                            fill=(fill(i).paint(labels.id, i)) stroke=(fill(i).colour()) stroke-width="1.5" {}
                    }
                    text x=(n(left + w_of(v) + 6.0)) y=(n(y + bar_h - 3.0)) fill=(INK) { (v) }
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series() -> Vec<Series> {
        vec![
            Series { name: "Registrerade".into(), values: vec![3, 0, 12] },
            Series { name: "Återkallade".into(), values: vec![1, 0, 0] },
        ]
    }

    fn labels() -> Labels<'static> {
        Labels { id: "test", title: "Samtycken <per> månad", description: "Antal per månad." }
    }

    /// The SVG's elements, in order, with a check that every one is closed in order.
    fn balanced(svg: &str) -> Vec<String> {
        let mut stack: Vec<String> = Vec::new();
        let mut seen = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            rest = &rest[i + 1..];
            let end = rest.find('>').expect("a tag ends");
            let tag = &rest[..end];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "closing {name} in {svg}");
            } else {
                assert!(!tag.ends_with('/'), "self-closing tag {tag}");
                let name = tag.split_whitespace().next().unwrap_or_default().to_owned();
                seen.push(name.clone());
                stack.push(name);
            }
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        seen
    }

    #[test]
    fn vertical_bars_are_an_accessible_image_with_numbers_as_text() {
        let months: Vec<String> = ["jan", "feb", "mar"].map(str::to_owned).to_vec();
        let svg = vertical_bars(labels(), &months, &series()).into_string();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"diagram\" role=\"img\""));
        assert!(svg.contains("aria-labelledby=\"test-titel\""));
        assert!(svg.contains("<title id=\"test-titel\">Samtycken &lt;per&gt; månad</title>"));
        assert!(svg.contains("<desc id=\"test-beskrivning\">Antal per månad.</desc>"));
        for text in [">3</text>", ">12</text>", ">1</text>", ">jan</text>", ">Återkallade</text>"] {
            assert!(svg.contains(text), "{text} in {svg}");
        }
        // The second series is striped, not only another colour.
        assert!(svg.contains("<pattern id=\"test-m1\""));
        assert!(svg.contains("fill=\"url(#test-m1)\""));
        assert!(!svg.contains("style="), "no inline style under the CSP");
        let elements = balanced(&svg);
        // Bars for 3, 12 and 1 (zeros draw none), legend swatches for 2 series, background, pattern.
        assert_eq!(elements.iter().filter(|e| *e == "rect").count(), 3 + 2 + 1 + 2);
    }

    #[test]
    fn horizontal_bars_name_every_bar() {
        let principals =
            vec!["Region Östergötland (SE2321000032)".to_owned(), "Linköpings kommun".to_owned()];
        let s = vec![
            Series { name: "Öppnade ärenden".into(), values: vec![4, 2] },
            Series { name: "Nekade".into(), values: vec![0, 7] },
        ];
        let svg = horizontal_bars(labels(), &principals, &s).into_string();
        balanced(&svg);
        assert_eq!(svg.matches(">Öppnade ärenden</text>").count(), 3, "legend and one per principal");
        assert!(svg.contains(">Region Östergötland (SE2321000032)</text>"));
        assert!(svg.contains(">7</text>") && svg.contains(">0</text>"));
    }

    #[test]
    fn empty_charts_still_draw() {
        let svg = vertical_bars(labels(), &[], &[]).into_string();
        balanced(&svg);
        let svg = horizontal_bars(labels(), &[], &series()).into_string();
        balanced(&svg);
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(3), (1, 3));
        assert_eq!(axis(7), (2, 8));
        assert_eq!(axis(12), (5, 15));
        assert_eq!(axis(100), (20, 100));
        assert_eq!(axis(101), (50, 150));
        assert_eq!(n(2.0), "2");
        assert_eq!(n(2.25), "2.3");
    }
}
