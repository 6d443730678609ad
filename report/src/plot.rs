//! SVG plots of the comparison, drawn with `plotters` (no hand-written SVG):
//! validation bits per character against training time and against
//! characters seen (one curve per run), and tokens per character per
//! vocabulary.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::{Comparison, Error, Result};

const SIZE: (u32, u32) = (900, 560);

fn palette(i: usize) -> RGBColor {
    // Okabe-Ito, readable by colour-blind readers.
    const C: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(0, 0, 0),
        RGBColor(240, 228, 66),
    ];
    C[i % C.len()]
}

fn plot_err(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |reason| Error::Plot { path: path.to_path_buf(), reason }
}

/// A line chart of `(x, y)` series; returns the SVG text.
fn lines(title: &str, x_desc: &str, series: &[(String, Vec<(f64, f64)>)], path: &Path) -> Result<String> {
    let err = plot_err(path);
    let pts = series.iter().flat_map(|(_, p)| p.iter().copied());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    // x starts at 0; x0 only tells whether there are points.
    for (x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        // No points yet: an empty chart with a unit range.
        (x1, y0, y1) = (1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(46)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x1 * 1.02 + 1e-9, (y0 - pad)..(y1 + pad))
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("validation bits per character")
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for (i, (name, p)) in series.iter().enumerate() {
            let color = palette(i);
            chart
                .draw_series(LineSeries::new(p.iter().copied(), color.stroke_width(2)))
                .map_err(|e| err(e.to_string()))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            chart
                .draw_series(p.iter().map(|&(x, y)| Circle::new((x, y), 3, color.filled())))
                .map_err(|e| err(e.to_string()))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// A bar chart of tokens per character, one bar per vocabulary; returns the SVG text.
fn bars(c: &Comparison, path: &Path) -> Result<String> {
    let err = plot_err(path);
    let mut items: Vec<(String, f64)> = c.rows.iter().map(|r| (r.run.clone(), r.tokens_per_char)).collect();
    items.extend(c.references.iter().map(|r| (r.tokenizer.clone(), r.tokens_per_char)));
    let n = items.len().max(1);
    let top = items.iter().map(|i| i.1).fold(0.0, f64::max) * 1.15 + 1e-9;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let labels: Vec<String> = items.iter().map(|i| i.0.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption("Tokens per character on the validation text", ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(46)
            .y_label_area_size(60)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..top)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_desc("tokens per character")
            .draw()
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(items.iter().enumerate().map(|(i, (_, v))| {
                let color = palette(i);
                let mut bar = Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), *v)],
                    color.mix(0.8).filled(),
                );
                bar.set_margin(0, 0, 12, 12);
                bar
            }))
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(items.iter().enumerate().map(|(i, (_, v))| {
                Text::new(format!("{v:.3}"), (SegmentValue::CenterOf(i), *v + top * 0.02), ("sans-serif", 15))
            }))
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// Writes `bpc_vs_time.svg`, `bpc_vs_chars.svg` and `tokens_per_char.svg`
/// into `dir` (atomically); returns their paths.
pub fn write_all(c: &Comparison, dir: &Path) -> Result<Vec<PathBuf>> {
    let series = |x: fn(&crate::compare::CurvePoint) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
        c.curves
            .iter()
            .map(|k| (k.run.clone(), k.points.iter().map(|p| (x(p), p.bits_per_char)).collect()))
            .collect()
    };
    let by_time = series(|p| p.time_s);
    let by_chars = series(|p| p.chars as f64 / 1e6);
    let files = [
        (
            "bpc_vs_time.svg",
            lines(
                "Validation bits/char vs training time",
                "training time (s)",
                &by_time,
                &dir.join("bpc_vs_time.svg"),
            )?,
        ),
        (
            "bpc_vs_chars.svg",
            lines(
                "Validation bits/char vs characters seen",
                "training characters seen (millions)",
                &by_chars,
                &dir.join("bpc_vs_chars.svg"),
            )?,
        ),
        ("tokens_per_char.svg", bars(c, &dir.join("tokens_per_char.svg"))?),
    ];
    let mut out = Vec::new();
    for (name, svg) in files {
        let path = dir.join(name);
        crate::write_file(&path, svg.as_bytes())?;
        out.push(path);
    }
    Ok(out)
}
