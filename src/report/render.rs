//! The report for people: one self-contained HTML file (inline CSS, charts as inline SVG drawn
//! by plotters, templates by minijinja), a CSV of the disclosure lines for spreadsheets, and a
//! Markdown summary. The JSON form (serde) is the one that proves itself; these are views of it.

use std::collections::BTreeMap;

use minijinja::{Environment, Value, context};
use plotters::prelude::*;

use super::{Report, ReportError};

/// The TLP 2.0 markings in order of restriction, with the colours FIRST's standard uses.
const TLPS: [(&str, RGBColor); 5] = [
    ("clear", RGBColor(190, 190, 190)),
    ("green", RGBColor(51, 255, 0)),
    ("amber", RGBColor(255, 192, 0)),
    ("amber+strict", RGBColor(204, 136, 0)),
    ("red", RGBColor(255, 43, 43)),
];

/// The output formats `borderlog report --format` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The self-proving JSON.
    Json,
    /// One row per disclosure line.
    Csv,
    /// A Markdown summary.
    Markdown,
    /// One self-contained HTML file.
    Html,
}

/// Renders a report in `format`.
pub fn render(report: &Report, format: Format) -> Result<String, ReportError> {
    match format {
        Format::Json => serde_json::to_string_pretty(report)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| ReportError::Render(e.to_string())),
        Format::Csv => csv(report),
        Format::Markdown => template(report, "report.md", Value::UNDEFINED),
        Format::Html => {
            let charts = context! {
                over_time => chart_over_time(report)?.map(Value::from_safe_string),
                refusals => chart_refusals(report)?.map(Value::from_safe_string),
            };
            template(report, "report.html", charts)
        }
    }
}

fn template(report: &Report, name: &str, charts: Value) -> Result<String, ReportError> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env.add_template("report.html", include_str!("templates/report.html"))
        .and_then(|_| env.add_template("report.md", include_str!("templates/report.md")))
        .map_err(|e| ReportError::Render(e.to_string()))?;
    let tlp_totals: BTreeMap<&str, u64> = TLPS
        .iter()
        .map(|(t, _)| {
            let n = report
                .contents
                .disclosures_by
                .iter()
                .filter(|r| r.tlp == *t)
                .map(|r| r.items)
                .sum();
            (*t, n)
        })
        .collect();
    env.get_template(name)
        .and_then(|t| {
            t.render(context! {
                r => Value::from_serialize(report),
                charts => charts,
                tlp_totals => tlp_totals,
                tlp_order => TLPS.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            })
        })
        .map_err(|e| ReportError::Render(format!("{e:#}")))
}

/// One row per disclosure line.
fn csv(report: &Report) -> Result<String, ReportError> {
    let err = |e: csv::Error| ReportError::Render(e.to_string());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "index",
        "time",
        "leaf_hash",
        "sender",
        "recipient",
        "purpose",
        "legal_basis",
        "case_reference",
        "items",
        "new_items",
        "updated_items",
        "stix_types",
        "tlps",
        "receipt",
        "policy_hash",
    ])
    .map_err(err)?;
    for l in &report.contents.lines {
        let tally = |f: fn(&super::LineItem) -> &str| {
            let mut m: BTreeMap<&str, u64> = BTreeMap::new();
            for i in &l.items {
                *m.entry(f(i)).or_default() += 1;
            }
            m.iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect::<Vec<_>>()
                .join(";")
        };
        let new = l.items.iter().filter(|i| i.first_seen.is_none()).count();
        w.write_record([
            l.index.to_string(),
            l.time.clone(),
            l.leaf_hash.clone(),
            l.sender.clone(),
            l.recipient.clone(),
            l.purpose.clone(),
            l.legal_basis.clone(),
            l.case_reference.clone(),
            l.items.len().to_string(),
            new.to_string(),
            (l.items.len() - new).to_string(),
            tally(|i| i.stix_type.as_str()),
            tally(|i| i.tlp.as_str()),
            l.receipt.map(|r| r.to_string()).unwrap_or_default(),
            l.policy_hash.clone(),
        ])
        .map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ReportError::Render(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ReportError::Render(e.to_string()))
}

fn draw_err<E: std::fmt::Display>(e: E) -> ReportError {
    ReportError::Render(format!("chart: {e}"))
}

/// Stacked bars: items disclosed per week or month, by TLP. None when nothing was disclosed.
fn chart_over_time(report: &Report) -> Result<Option<String>, ReportError> {
    let mut by_bucket: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for row in &report.contents.disclosures_by {
        *by_bucket
            .entry(&row.bucket)
            .or_default()
            .entry(&row.tlp)
            .or_default() += row.items;
    }
    if by_bucket.is_empty() {
        return Ok(None);
    }
    let buckets: Vec<&str> = by_bucket.keys().copied().collect();
    let max = by_bucket
        .values()
        .map(|m| m.values().sum::<u64>())
        .max()
        .unwrap_or(1);
    let n = buckets.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(48)
            .build_cartesian_2d((0u32..n).into_segmented(), 0u64..max + max.div_ceil(5))
            .map_err(draw_err)?;
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => buckets.get(*i as usize).copied().unwrap_or("").into(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(buckets.len())
            .x_label_formatter(&label)
            .label_style(("sans-serif", 13))
            .y_desc("items disclosed")
            .draw()
            .map_err(draw_err)?;
        let mut base = vec![0u64; buckets.len()];
        for (tlp, colour) in TLPS {
            let mut bars = Vec::new();
            for (i, b) in buckets.iter().enumerate() {
                let v = by_bucket[b].get(tlp).copied().unwrap_or(0);
                if v > 0 {
                    let x = i as u32;
                    bars.push(Rectangle::new(
                        [
                            (SegmentValue::Exact(x), base[i]),
                            (SegmentValue::Exact(x + 1), base[i] + v),
                        ],
                        colour.filled(),
                    ));
                    base[i] += v;
                }
            }
            if bars.is_empty() {
                continue;
            }
            chart
                .draw_series(bars)
                .map_err(draw_err)?
                .label(format!("TLP:{}", tlp.to_uppercase()))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 13))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.9))
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Some(svg))
}

/// Horizontal bars: refusal findings by rule. None when nothing was refused.
fn chart_refusals(report: &Report) -> Result<Option<String>, ReportError> {
    let mut by_rule: BTreeMap<&str, u64> = BTreeMap::new();
    for row in &report.contents.refusals {
        *by_rule.entry(&row.rule).or_default() += row.findings;
    }
    if by_rule.is_empty() {
        return Ok(None);
    }
    let rules: Vec<&str> = by_rule.keys().copied().collect();
    let max = by_rule.values().copied().max().unwrap_or(1);
    let n = rules.len() as u32;
    let height = 60 + 28 * n;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(180)
            .build_cartesian_2d(0u64..max + max.div_ceil(5), (0u32..n).into_segmented())
            .map_err(draw_err)?;
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) => rules.get(*i as usize).copied().unwrap_or("").into(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rules.len())
            .y_label_formatter(&label)
            .label_style(("sans-serif", 13))
            .x_desc("findings")
            .draw()
            .map_err(draw_err)?;
        let colour = RGBColor(120, 60, 160);
        chart
            .draw_series(rules.iter().enumerate().map(|(i, r)| {
                let y = i as u32;
                Rectangle::new(
                    [
                        (0, SegmentValue::Exact(y)),
                        (by_rule[r], SegmentValue::Exact(y + 1)),
                    ],
                    colour.filled(),
                )
            }))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Some(svg))
}
