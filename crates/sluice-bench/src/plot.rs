//! `latency.png`: p50 / p99 / p99.9 latency against achieved throughput, one colour per
//! target, for the non-streaming rows (closed and fixed-rate loads), log-log. Text needs a
//! TrueType font from the system (DejaVu, Liberation, ...), rendered in pure Rust; without one
//! the plot is drawn without text and the caller says so.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::load::Load;
use crate::report::{Row, Tail};

/// Registers the first usable system font as `sans-serif`; `false` if there is none.
fn register_font() -> bool {
    let candidates = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ];
    let found = candidates
        .iter()
        .map(|p| std::path::PathBuf::from(*p))
        .find(|p| p.is_file())
        .or_else(|| find_ttf(Path::new("/usr/share/fonts"), 3));
    let Some(path) = found else { return false };
    let Ok(bytes) = std::fs::read(&path) else {
        return false;
    };
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
}

fn find_ttf(dir: &Path, depth: u32) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() && depth > 0 {
            if let Some(f) = find_ttf(&p, depth - 1) {
                return Some(f);
            }
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("ttf")) {
            return Some(p);
        }
    }
    None
}

/// Achieved req/s, its latency tail, and the load that produced it.
type Point = (f64, Tail, Load);

fn load_order(l: &Load) -> (u8, u32) {
    match l {
        Load::Rate { rps, .. } | Load::Stream { rps, .. } => (0, *rps),
        Load::Closed { conc } => (1, *conc),
    }
}

/// A percentile's name, how to read it from a row, and its line width.
type Quantile = (&'static str, fn(&Tail) -> f64, u32);

fn colour(i: usize) -> RGBColor {
    const C: [RGBColor; 7] = [
        RGBColor(0, 0, 0),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(214, 39, 40),
        RGBColor(255, 127, 14),
        RGBColor(23, 190, 207),
    ];
    C[i % C.len()]
}

/// Draws the plot; returns whether it has text.
pub fn draw(rows: &[Row], path: &Path, title: &str) -> Result<bool> {
    let with_text = register_font();
    // (name, [(req/s, tail)]) — direct first, from the first target's pairs.
    let mut series: Vec<(String, Vec<Point>)> = Vec::new();
    let non_stream: Vec<&Row> = rows
        .iter()
        .filter(|r| !matches!(r.load, Load::Stream { .. }))
        .collect();
    if let Some(first) = non_stream.first() {
        let direct = non_stream
            .iter()
            .filter(|r| r.target == first.target)
            .map(|r| (r.direct_rps.median, r.direct, r.load))
            .collect();
        series.push(("direct (mock)".into(), direct));
    }
    for r in &non_stream {
        let point = (r.gateway_rps.median, r.gateway, r.load);
        match series.iter_mut().find(|(n, _)| *n == r.target) {
            Some((_, pts)) => pts.push(point),
            None => series.push((r.target.clone(), vec![point])),
        }
    }
    // Lines follow the load, lightest first (fixed rates, then closed loops by connections):
    // a saturated target's c=128 point may sit left of its c=32 point.
    for (_, pts) in &mut series {
        pts.sort_by_key(|(_, _, load)| load_order(load));
    }
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|(_, pts)| {
            pts.iter()
                .flat_map(|(x, t, _)| [(*x, t.p50.median), (*x, t.p999.median)])
        })
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .collect();
    if all.is_empty() {
        return Err(anyhow!("no non-streaming rows to plot"));
    }
    let (xmin, xmax) = all
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), (x, _)| (a.min(*x), b.max(*x)));
    let (ymin, ymax) = all
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), (_, y)| (a.min(*y), b.max(*y)));

    let root = BitMapBackend::new(path, (1200, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if with_text {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(50)
            .y_label_area_size(70);
    } else {
        builder.x_label_area_size(5).y_label_area_size(5);
    }
    let mut chart = builder
        .build_cartesian_2d(
            (xmin * 0.7..xmax * 1.4).log_scale(),
            (ymin * 0.7..ymax * 1.5).log_scale(),
        )
        .map_err(|e| anyhow!("{e}"))?;
    let mut mesh = chart.configure_mesh();
    if with_text {
        mesh.x_desc("achieved requests per second (log scale)   ● p50   ▲ p99   × p99.9")
            .y_desc("latency, ms (log scale)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y}"))
            .label_style(("sans-serif", 15));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| anyhow!("{e}"))?;

    for (i, (name, pts)) in series.iter().enumerate() {
        let c = colour(i);
        let pick: [Quantile; 3] = [
            ("p50", |t| t.p50.median, 3),
            ("p99", |t| t.p99.median, 2),
            ("p99.9", |t| t.p999.median, 1),
        ];
        for (q, get, width) in pick {
            let line: Vec<(f64, f64)> = pts
                .iter()
                .map(|(x, t, _)| (*x, get(t)))
                .filter(|(x, y)| *x > 0.0 && *y > 0.0)
                .collect();
            let drawn = chart
                .draw_series(LineSeries::new(line.clone(), c.stroke_width(width)))
                .map_err(|e| anyhow!("{e}"))?;
            // One legend entry per target; the marker says which percentile.
            if with_text && q == "p50" {
                drawn.label(name.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(width))
                });
            }
            match q {
                "p50" => chart.draw_series(line.iter().map(|p| Circle::new(*p, 5, c.filled()))),
                "p99" => {
                    chart.draw_series(line.iter().map(|p| TriangleMarker::new(*p, 6, c.filled())))
                }
                _ => chart.draw_series(line.iter().map(|p| Cross::new(*p, 5, c.stroke_width(2)))),
            }
            .map_err(|e| anyhow!("{e}"))?;
        }
    }
    if with_text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(with_text)
}
