//! The report for people: one self-contained HTML file (inline CSS, charts as inline SVG drawn
//! by plotters, templates by minijinja), a CSV of the disclosure lines for spreadsheets, and a
//! Markdown summary. The JSON form (serde) is the one that proves itself; these are views of it.

use std::collections::BTreeMap;

use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::charts::{self, FINDINGS, REFUSALS, TLPS};
use super::{Line, Report, ReportError};

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

/// Where a TLP marking sorts: CLEAR, GREEN, AMBER, AMBER+STRICT, RED, then anything else.
fn tlp_rank(tlp: &str) -> usize {
    TLPS.iter()
        .position(|(t, _)| *t == tlp)
        .unwrap_or(TLPS.len())
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
            let timeline = charts::over_time(report)?;
            let charts = context! {
                over_time => timeline.as_ref().map(|t| Value::from_safe_string(t.svg.clone())),
                over_time_first => timeline.as_ref().map(|t| t.first.clone()),
                over_time_last => timeline.as_ref().map(|t| t.last.clone()),
                over_time_buckets => timeline.as_ref().map(|t| t.buckets),
                over_time_shortened => timeline.as_ref().is_some_and(|t| t.shortened),
                refusals => charts::refusals(report)?.map(Value::from_safe_string),
                refusal_colour => hex(REFUSALS),
                finding_colour => hex(FINDINGS),
                tlp_colours => TLPS.iter().map(|(t, c)| (*t, hex(*c))).collect::<BTreeMap<_, _>>(),
            };
            template(report, "report.html", charts)
        }
    }
}

fn template(report: &Report, name: &str, charts: Value) -> Result<String, ReportError> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env.add_filter("md", |s: String| md_escape(&s));
    env.add_filter("css_string", |s: String| {
        Value::from_safe_string(css_string(&s))
    });
    env.add_template("report.html", include_str!("templates/report.html"))
        .and_then(|_| env.add_template("report.md", include_str!("templates/report.md")))
        .map_err(|e| ReportError::Render(e.to_string()))?;
    let mut by = report.contents.disclosures_by.clone();
    by.sort_by(|a, b| {
        (
            &a.bucket,
            &a.sender,
            &a.recipient,
            tlp_rank(&a.tlp),
            &a.stix_type,
        )
            .cmp(&(
                &b.bucket,
                &b.sender,
                &b.recipient,
                tlp_rank(&b.tlp),
                &b.stix_type,
            ))
    });
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
                disclosures_by => by,
                lines => report.contents.lines.iter().map(|l| line_view(report, l)).collect::<Vec<_>>(),
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
        let row = [
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
        ];
        w.write_record(row.iter().map(|c| csv_cell(c).into_owned()))
            .map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ReportError::Render(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ReportError::Render(e.to_string()))
}

/// A CSV cell a spreadsheet shows as text: one starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return would be read as a formula (OWASP "CSV Injection"), so it gets a leading `'`,
/// which spreadsheets take as "text" and do not show. Quoting is the csv writer's.
pub fn csv_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// Free text for a Markdown document: HTML is escaped as entities (no raw `<img onerror=...>`),
/// Markdown's own punctuation is backslash-escaped (no `[link](javascript:...)`, no table cell
/// broken by `|`), a URL scheme's colon is an entity (no autolink), and line breaks are spaces.
pub fn md_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            ':' => out.push_str("&#58;"),
            '\r' | '\n' => out.push(' '),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A CSS string literal's contents (for the print header in `@page`): quotes, backslashes and
/// anything that could close the `<style>` element are hex escapes.
fn css_string(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric()
            || " .,:/–()+-_".contains(c)
            || !c.is_ascii() && !c.is_control()
        {
            out.push(c);
        } else {
            out.push_str(&format!("\\{:x} ", u32::from(c)));
        }
    }
    out
}

fn hex(c: plotters::style::RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// A disclosure line as the HTML shows it: items summarised per type and TLP (TLP order), the
/// items erased by the report's redactions marked, the detail kept for a `<details>`.
#[derive(Serialize)]
struct LineView<'a> {
    line: &'a Line,
    date: &'a str,
    clock: &'a str,
    groups: Vec<Group<'a>>,
    new: usize,
    updated: usize,
    erased: Vec<Erased<'a>>,
}

#[derive(Serialize)]
struct Group<'a> {
    stix_type: &'a str,
    tlp: &'a str,
    count: usize,
}

#[derive(Serialize)]
struct Erased<'a> {
    stix_type: &'a str,
    tlp: &'a str,
    by: u64,
}

fn line_view<'a>(report: &'a Report, line: &'a Line) -> LineView<'a> {
    let mut groups: BTreeMap<(usize, &str, &str), usize> = BTreeMap::new();
    for i in &line.items {
        *groups
            .entry((tlp_rank(&i.tlp), &i.tlp, &i.stix_type))
            .or_default() += 1;
    }
    let new = line.items.iter().filter(|i| i.first_seen.is_none()).count();
    let (date, clock) = line.time.split_once('T').unwrap_or((&line.time, ""));
    LineView {
        line,
        date,
        clock: clock.get(..8).unwrap_or(clock),
        groups: groups
            .into_iter()
            .map(|((_, tlp, stix_type), count)| Group {
                stix_type,
                tlp,
                count,
            })
            .collect(),
        new,
        updated: line.items.len() - new,
        erased: report
            .contents
            .redactions
            .iter()
            .filter(|r| r.disclosure_index == line.index)
            .map(|r| Erased {
                stix_type: &r.stix_type,
                tlp: &r.tlp,
                by: r.index,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_that_a_spreadsheet_would_evaluate_are_text() {
        for bad in ["=SUM(A1:A9)", "+1+2", "-2+3", "@cmd", "\t=1", "\r=1"] {
            assert_eq!(csv_cell(bad), format!("'{bad}"));
        }
        assert_eq!(csv_cell("law enforcement"), "law enforcement");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn markdown_text_carries_no_html_and_no_link() {
        let e = md_escape("<img src=x onerror=alert(1)> [x](javascript:alert(1)) a|b");
        assert!(!e.contains('<') && !e.contains('>'), "{e}");
        assert!(!e.contains("](") && !e.contains("javascript:"), "{e}");
        assert!(e.contains("a\\|b"), "{e}");
    }

    #[test]
    fn css_strings_cannot_end_the_string_or_the_style() {
        let s = css_string("a\"b\\c</style>d");
        assert!(
            !s.contains('"') && !s.contains('<') && !s.contains("\\\\"),
            "{s}"
        );
        assert_eq!(
            css_string("2026-11-01 – borderlog.local/1"),
            "2026-11-01 – borderlog.local/1"
        );
    }
}
