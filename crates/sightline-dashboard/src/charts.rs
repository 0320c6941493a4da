//! Charts drawn on the server: pure geometry that the page templates turn into inline SVG
//! (so labels are escaped like any other value, and pages need no script or network).

use serde::Serialize;

/// Chart width and height in SVG units.
const W: f64 = 640.0;
const H: f64 = 180.0;
/// Room for the labels under the bars.
const FOOT: f64 = 20.0;

/// One rectangle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
    /// Series index (colour).
    pub series: usize,
    /// Tooltip: the label and value.
    pub title: String,
}

/// A label under the chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tick {
    /// Centre.
    pub x: f64,
    /// Text.
    pub text: String,
}

/// A horizontal reference line (e.g. the 5% error-rate line).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Height.
    pub y: f64,
    /// Text.
    pub text: String,
}

/// A chart ready to draw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
    /// Bars.
    pub bars: Vec<Bar>,
    /// Labels under them.
    pub ticks: Vec<Tick>,
    /// Reference line.
    pub rule: Option<Rule>,
    /// Series names, in colour order.
    pub legend: Vec<String>,
    /// The largest value (the top of the scale).
    pub max: f64,
}

/// Stacked bars: one column per label, one segment per series.
pub fn stacked(
    labels: &[String],
    series: &[(String, Vec<f64>)],
    rule: Option<(f64, &str)>,
) -> Chart {
    let n = labels.len().max(1) as f64;
    let totals: Vec<f64> = (0..labels.len())
        .map(|i| {
            series
                .iter()
                .map(|(_, v)| v.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = totals
        .iter()
        .copied()
        .chain(rule.map(|(v, _)| v))
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let plot = H - FOOT;
    let slot = W / n;
    let mut bars = vec![];
    for (i, label) in labels.iter().enumerate() {
        let mut top = plot;
        for (s, (name, values)) in series.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let h = v / max * plot;
            top -= h;
            bars.push(Bar {
                x: round(i as f64 * slot + slot * 0.1),
                y: round(top),
                w: round(slot * 0.8),
                h: round(h),
                series: s % 8,
                title: format!("{label} {name}: {}", trim(v)),
            });
        }
    }
    let every = (labels.len() / 10).max(1);
    let ticks = labels
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, l)| Tick {
            x: round(i as f64 * slot + slot / 2.0),
            text: l.clone(),
        })
        .collect();
    Chart {
        w: W,
        h: H,
        bars,
        ticks,
        rule: rule.map(|(v, text)| Rule {
            y: round(plot - v / max * plot),
            text: text.into(),
        }),
        legend: series.iter().map(|(n, _)| n.clone()).collect(),
        max,
    }
}

/// Plain bars: one series.
pub fn bars(labels: &[String], values: &[f64], name: &str, rule: Option<(f64, &str)>) -> Chart {
    stacked(labels, &[(name.to_string(), values.to_vec())], rule)
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_bars_fill_the_plot_in_proportion() {
        let labels = vec!["d1".to_string(), "d2".to_string()];
        let chart = stacked(
            &labels,
            &[("a".into(), vec![1.0, 3.0]), ("b".into(), vec![1.0, 1.0])],
            None,
        );
        assert_eq!(chart.max, 4.0);
        let d2: f64 = chart.bars.iter().filter(|b| b.x > 300.0).map(|b| b.h).sum();
        assert!(
            (d2 - (H - FOOT)).abs() < 0.2,
            "the tallest column fills the plot"
        );
        assert_eq!(chart.bars.len(), 4);
        assert_eq!(chart.ticks.len(), 2);
    }

    #[test]
    fn a_reference_line_is_on_the_scale_even_above_the_data() {
        let chart = bars(&["d".into()], &[0.01], "error rate", Some((0.05, "5%")));
        assert_eq!(chart.max, 0.05);
        assert_eq!(chart.rule.expect("rule").y, 0.0);
    }
}
