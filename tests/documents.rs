//! The published documents say what the code does: `docs/POLICY.md`'s rule table is the
//! guard's `RULES` (id, class, meaning, in order) and its key table names every key of the
//! default policy; the code's citations of the design point at a page that has the section.

use borderlog::guard::FindingClass;
use borderlog::guard::rules::RULES;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The cells of the table rows of `doc` under `heading` (up to the next heading).
fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    let section = &doc[start + heading.len()..];
    let section = &section[..section.find("\n#").unwrap_or(section.len())];
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("| ---"))
        .skip(1) // the header row
        .map(|l| {
            // Split on unescaped bars only (`\|` is a bar inside a cell).
            let l = l.replace("\\|", "\u{0}");
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace('\u{0}', "|"))
                .collect()
        })
        .collect()
}

#[test]
fn the_published_rule_table_is_the_guards() {
    let doc = read("docs/POLICY.md");
    let rows = table(&doc, "## Rule ids");
    let published: Vec<(String, String, String)> = rows
        .into_iter()
        .map(|r| {
            (
                r[0].trim_matches('`').to_owned(),
                r[1].clone(),
                r[2].clone(),
            )
        })
        .collect();
    let code: Vec<(String, String, String)> = RULES
        .iter()
        .map(|r| {
            let class = match r.class {
                FindingClass::Schema => "Schema",
                FindingClass::Policy => "Policy",
            };
            (r.id.to_owned(), class.to_owned(), r.what.to_owned())
        })
        .collect();
    assert_eq!(
        published, code,
        "docs/POLICY.md's rule table and src/guard/rules.rs differ"
    );
}

/// Every leaf key of a TOML table, dotted, with tables of free names (`allow.types`,
/// `retention.tlp`, `retention.types`) as one key.
fn keys(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
    const FREE: [&str; 3] = ["allow.types", "retention.tlp", "retention.types"];
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) if !FREE.contains(&key.as_str()) => keys(&key, t, out),
            _ => out.push(key),
        }
    }
}

#[test]
fn the_published_policy_keys_are_the_documents() {
    let doc = read("docs/POLICY.md");
    let published: Vec<String> = table(&doc, "## Keys")
        .into_iter()
        .map(|r| r[0].trim_matches('`').to_owned())
        .collect();
    let default: toml::Table = toml::from_str(borderlog::guard::DEFAULT_POLICY).unwrap();
    let mut in_default = Vec::new();
    keys("", &default, &mut in_default);
    for key in &in_default {
        assert!(
            published.contains(key),
            "policy key {key} of policy/default.toml is not in docs/POLICY.md"
        );
    }
    // Keys the default leaves out (optional sections) must still be real: each parses.
    for key in published.iter().filter(|k| !in_default.contains(k)) {
        assert!(
            [
                "allow.custom_properties",
                "retention.tlp",
                "retention.types"
            ]
            .contains(&key.as_str()),
            "docs/POLICY.md names {key}, which the default policy does not have"
        );
    }
    // The hash a PolicyChange records is SHA-256 of the exact bytes, as the page says.
    let policy =
        borderlog::guard::Policy::parse(borderlog::guard::DEFAULT_POLICY.as_bytes()).unwrap();
    assert_eq!(
        policy.hash(),
        borderlog::format::hash::sha256(borderlog::guard::DEFAULT_POLICY.as_bytes())
    );
}

#[test]
fn the_code_cites_design_sections_that_exist() {
    let design = read("docs/DESIGN.md");
    let headings: Vec<&str> = design
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cited = 0;
    let mut stack = vec![root.join("src"), root.join("proto")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (at, _) in text.match_indices("DESIGN.md, \"") {
                let rest = &text[at + "DESIGN.md, \"".len()..];
                let section = &rest[..rest.find('"').unwrap()];
                assert!(
                    headings.contains(&section),
                    "{} cites DESIGN.md, {section:?}, which docs/DESIGN.md does not have",
                    path.display()
                );
                cited += 1;
            }
        }
    }
    assert!(cited >= 10, "only {cited} citations found");
}
