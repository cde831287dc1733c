//! The HTML report's two charts, as inline SVG drawn by plotters: items disclosed over every
//! bucket of the period (zeros included), stacked by TLP; and refusals by rule, refused
//! submissions and their findings side by side. Legends are the HTML's (beside the figure, never
//! on a bar); these draw the axes, a faint horizontal grid and a number on each bar.

use std::collections::BTreeMap;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::derive::{bucket_of, buckets_between};
use super::{Report, ReportError};

/// The TLP 2.0 markings in order of restriction, with the colours FIRST's standard uses
/// (CLEAR, white on black there, is a mid grey here so it shows on white paper).
pub(crate) const TLPS: [(&str, RGBColor); 5] = [
    ("clear", RGBColor(150, 150, 150)),
    ("green", RGBColor(51, 204, 0)),
    ("amber", RGBColor(255, 192, 0)),
    ("amber+strict", RGBColor(204, 136, 0)),
    ("red", RGBColor(255, 43, 43)),
];

/// Refused submissions and findings in the refusals chart.
pub(crate) const REFUSALS: RGBColor = RGBColor(120, 60, 160);
pub(crate) const FINDINGS: RGBColor = RGBColor(196, 170, 220);

/// More buckets than this (say, a period from 1970 by week) and the timeline starts at the
/// first bucket with a disclosure; the caption says so.
const MAX_BUCKETS: usize = 160;

const WIDTH: u32 = 760;
const INK: RGBColor = RGBColor(29, 35, 48);
const GRID: RGBColor = RGBColor(232, 234, 238);

/// The over-time chart: its SVG and the buckets it shows.
pub(crate) struct Timeline {
    /// Inline SVG.
    pub svg: String,
    /// First and last bucket shown.
    pub first: String,
    pub last: String,
    /// How many buckets (bars, zeros included).
    pub buckets: usize,
    /// True when the period had too many buckets and the timeline starts at the first
    /// bucket with data.
    pub shortened: bool,
}

fn draw_err<E: std::fmt::Display>(e: E) -> ReportError {
    ReportError::Render(format!("chart: {e}"))
}

/// Items disclosed per bucket of the period, stacked by TLP; every bucket drawn, empty ones
/// as zero. None when nothing was disclosed.
pub(crate) fn over_time(report: &Report) -> Result<Option<Timeline>, ReportError> {
    let mut by_bucket: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for row in &report.contents.disclosures_by {
        *by_bucket
            .entry(&row.bucket)
            .or_default()
            .entry(&row.tlp)
            .or_default() += row.items;
    }
    let Some(first_data) = by_bucket.keys().next().map(|b| b.to_string()) else {
        return Ok(None);
    };
    let scope = &report.scope;
    let mut buckets = buckets_between(scope.from_ms, scope.to_ms, scope.bucket);
    let shortened = buckets.len() > MAX_BUCKETS;
    if shortened {
        // Labels sort as times do (`2026-W05`, `2026-11`), so "from the first with data" is a
        // comparison.
        buckets.retain(|b| *b >= first_data);
    }
    if buckets.is_empty() {
        buckets.push(bucket_of(scope.from_ms, scope.bucket));
    }
    let n = buckets.len();
    let totals: Vec<u64> = buckets
        .iter()
        .map(|b| {
            by_bucket
                .get(b.as_str())
                .map_or(0, |m| m.values().sum::<u64>())
        })
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let top = max + max.div_ceil(6).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_right(18)
            .x_label_area_size(34)
            .y_label_area_size(54)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0u64..top)
            .map_err(draw_err)?;
        // Key points on a range n wide with at most n labels fall on the integers: one per
        // bucket, or every second or fifth when there are many.
        let label = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                buckets.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let count = |v: &u64| v.to_string();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(12))
            .x_label_formatter(&label)
            .y_labels(6)
            .y_label_formatter(&count)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .axis_style(INK.mix(0.6))
            .label_style(("sans-serif", 13).into_font().color(&INK))
            .axis_desc_style(("sans-serif", 13).into_font().color(&INK))
            .y_desc("items")
            .x_desc(match scope.bucket {
                super::Bucket::Week => "ISO week",
                super::Bucket::Month => "month",
            })
            .draw()
            .map_err(draw_err)?;
        let width = if n > 40 { 0.45 } else { 0.35 };
        let mut base = vec![0u64; n];
        for (tlp, colour) in TLPS {
            let bars: Vec<_> = buckets
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    let v = by_bucket.get(b.as_str())?.get(tlp).copied()?;
                    let x = i as f64;
                    let bar = Rectangle::new(
                        [(x - width, base[i]), (x + width, base[i] + v)],
                        colour.filled(),
                    );
                    base[i] += v;
                    Some(bar)
                })
                .collect();
            chart.draw_series(bars).map_err(draw_err)?;
        }
        if n <= 40 {
            let font = ("sans-serif", 12).into_font().color(&INK);
            chart
                .draw_series(
                    totals
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| **t > 0)
                        .map(|(i, t)| {
                            EmptyElement::at((i as f64, *t))
                                + Text::new(
                                    t.to_string(),
                                    (0, -4),
                                    font.pos(Pos::new(HPos::Center, VPos::Bottom)),
                                )
                        }),
                )
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(Some(Timeline {
        svg,
        first: buckets[0].clone(),
        last: buckets[n - 1].clone(),
        buckets: n,
        shortened,
    }))
}

/// Horizontal bars per rule: refused submissions and their findings, each labelled with its
/// number. None when nothing was refused.
pub(crate) fn refusals(report: &Report) -> Result<Option<String>, ReportError> {
    // A refusal with findings under two policies' versions of a rule is one refusal per row;
    // per rule they add up, as each refusal names one policy.
    let mut by_rule: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for row in &report.contents.refusals {
        let r = by_rule.entry(&row.rule).or_default();
        r.0 += row.refusals;
        r.1 += row.findings;
    }
    if by_rule.is_empty() {
        return Ok(None);
    }
    // First rule at the top.
    let rules: Vec<(&str, (u64, u64))> = by_rule.into_iter().rev().collect();
    let n = rules.len();
    let max = rules.iter().map(|(_, (r, f))| *r.max(f)).max().unwrap_or(1);
    let right = max + max.div_ceil(8).max(1);
    let height = 70 + 44 * n as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_right(18)
            .x_label_area_size(34)
            .y_label_area_size(170)
            .build_cartesian_2d(0u64..right, -0.5f64..n as f64 - 0.5)
            .map_err(draw_err)?;
        let label = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                rules
                    .get(i as usize)
                    .map(|(r, _)| (*r).to_owned())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        };
        let count = |v: &u64| v.to_string();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label)
            .x_labels(6)
            .x_label_formatter(&count)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .axis_style(INK.mix(0.6))
            .label_style(("sans-serif", 13).into_font().color(&INK))
            .axis_desc_style(("sans-serif", 13).into_font().color(&INK))
            .x_desc("count")
            .draw()
            .map_err(draw_err)?;
        let font = ("sans-serif", 12).into_font().color(&INK);
        for (offset, colour, pick) in [
            (0.2, REFUSALS, 0usize), // refused submissions above
            (-0.2, FINDINGS, 1),     // their findings below
        ] {
            let value = |c: &(u64, u64)| if pick == 0 { c.0 } else { c.1 };
            chart
                .draw_series(rules.iter().enumerate().map(|(i, (_, c))| {
                    let y = i as f64 + offset;
                    Rectangle::new([(0, y - 0.17), (value(c), y + 0.17)], colour.filled())
                }))
                .map_err(draw_err)?;
            chart
                .draw_series(rules.iter().enumerate().map(|(i, (_, c))| {
                    EmptyElement::at((value(c), i as f64 + offset))
                        + Text::new(
                            value(c).to_string(),
                            (4, 0),
                            font.pos(Pos::new(HPos::Left, VPos::Center)),
                        )
                }))
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(Some(svg))
}
