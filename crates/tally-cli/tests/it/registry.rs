//! `docs/SECURITY_INVARIANTS.md` is a registry: every invariant names the code
//! that upholds it and the tests that check it. This module parses the registry
//! and fails when a named file or test does not exist, so that a test cannot be
//! renamed or deleted while the registry still claims it.
//!
//! Row format (a markdown table row):
//!
//! ```text
//! | AUD-3 | statement | `crates/x/src/y.rs` | `crates/x/tests/it/z.rs::test_name`, ... | how the tests would fail |
//! ```
//!
//! The fifth cell says how the named tests would fail if the invariant broke;
//! it must hold at least a few words (see [`MIN_NOTE_WORDS`]).
//!
//! A test reference is `path::function`; the file must exist and define
//! `fn function` as a test (`#[test]` or similar attribute within the lines
//! just above it, or inside a `proptest!` block).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The fewest words a "fails if broken" note may have: enough to rule out
/// placeholders such as `-`, `n/a` or `todo`.
const MIN_NOTE_WORDS: usize = 4;

/// One problem found in the registry.
#[derive(Debug, PartialEq, Eq)]
struct Problem {
    id: String,
    what: String,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// The backticked spans of a table cell.
fn backticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Whether `source` defines `name` as a test function.
fn defines_test(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    let is_def = |line: &str| {
        let t = line.trim_start();
        let t = t.strip_prefix("pub ").unwrap_or(t);
        let t = t.strip_prefix("async ").unwrap_or(t);
        t.strip_prefix("fn ").is_some_and(|rest| {
            rest.strip_prefix(name)
                .is_some_and(|after| after.starts_with('(') || after.starts_with('<'))
        })
    };
    lines.iter().enumerate().any(|(i, line)| {
        if !is_def(line) {
            return false;
        }
        // The item's own attributes: the lines above it back to the end of the
        // previous item (a line ending in `}`, `;` or `{`).
        let attributed = lines[..i]
            .iter()
            .rev()
            .take_while(|l| {
                let t = l.trim_end();
                !(t.ends_with('}') || t.ends_with(';') || t.ends_with('{'))
            })
            .any(|l| l.contains("#[test]") || l.contains("::test]") || l.contains("::test("));
        // Inside a `proptest!` block: braces opened since its last opening are unclosed.
        let in_proptest = lines[..i]
            .iter()
            .rposition(|l| l.contains("proptest!"))
            .is_some_and(|start| {
                let depth: i64 = lines[start..i]
                    .iter()
                    .flat_map(|l| l.chars())
                    .map(|c| match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    })
                    .sum();
                depth > 0
            });
        attributed || in_proptest
    })
}

/// Checks every invariant row of `registry`; files are resolved under `root`.
fn check_registry(registry: &str, root: &Path) -> (usize, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    let mut rows = 0;
    for line in registry.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let Some(id) = cells.first().copied() else {
            continue;
        };
        if !is_invariant_id(id) {
            continue;
        }
        rows += 1;
        let mut problem = |what: String| {
            problems.push(Problem {
                id: id.to_owned(),
                what,
            })
        };
        if !ids.insert(id.to_owned()) {
            problem("duplicate id".to_owned());
        }
        if cells.len() != 5 {
            problem(format!("expected 5 cells, found {}", cells.len()));
            continue;
        }
        let note_words = cells[4].split_whitespace().count();
        if note_words < MIN_NOTE_WORDS {
            problem(format!(
                "the \"fails if broken\" note has {note_words} words, at least {MIN_NOTE_WORDS} are needed"
            ));
        }
        for path in backticked(cells[2]) {
            let file = path.split("::").next().unwrap_or(path);
            if !root.join(file).is_file() {
                problem(format!("code `{file}` does not exist"));
            }
        }
        let tests = backticked(cells[3]);
        if tests.is_empty() {
            problem("names no test".to_owned());
        }
        for reference in tests {
            let Some((file, name)) = reference.rsplit_once("::") else {
                problem(format!("`{reference}` is not `path::test_name`"));
                continue;
            };
            match std::fs::read_to_string(root.join(file)) {
                Err(_) => problem(format!("test file `{file}` does not exist")),
                Ok(source) if !defines_test(&source, name) => {
                    problem(format!("`{file}` defines no test `{name}`"))
                }
                Ok(_) => {}
            }
        }
    }
    (rows, problems)
}

/// `ABC-12`: upper-case letters, a dash, digits.
fn is_invariant_id(cell: &str) -> bool {
    let Some((area, number)) = cell.split_once('-') else {
        return false;
    };
    !area.is_empty()
        && area.chars().all(|c| c.is_ascii_uppercase())
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

#[test]
fn every_named_test_exists() {
    let root = repo_root();
    let registry = std::fs::read_to_string(root.join("docs/SECURITY_INVARIANTS.md")).unwrap();
    let (rows, problems) = check_registry(&registry, &root);
    assert!(rows > 0, "the registry has no invariant rows");
    assert!(problems.is_empty(), "registry problems: {problems:#?}");
}

#[test]
fn registry_check_reports_missing_tests_and_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("t")).unwrap();
    std::fs::write(
        dir.path().join("t/a.rs"),
        "#[test]\nfn present() {}\nproptest! {\n fn in_prop(x in 0..1u8) {}\n}\nfn not_a_test() {}\n",
    )
    .unwrap();
    let registry = "\
| ID | Invariant | Upheld by | Checked by | Fails if broken |
|---|---|---|---|---|
| OK-1 | fine | `t/a.rs` | `t/a.rs::present`, `t/a.rs::in_prop` | `present` would see the check fail |
| BAD-1 | missing test | `t/a.rs` | `t/a.rs::absent` | the absent test would fail |
| BAD-2 | not a test | `t/a.rs` | `t/a.rs::not_a_test` | never run so never fails |
| BAD-3 | missing file | `t/none.rs` | `t/none.rs::x` | the missing file would fail |
| BAD-4 | no test | `t/a.rs` | none yet | nothing would fail at all |
| OK-1 | duplicate | `t/a.rs` | `t/a.rs::present` | `present` would see the check fail |
| NOTE-1 | four cells | `t/a.rs` | `t/a.rs::present` |
| NOTE-2 | placeholder note | `t/a.rs` | `t/a.rs::present` | - |
| NOTE-3 | empty note | `t/a.rs` | `t/a.rs::present` |  |
| NOTE-4 | too short | `t/a.rs` | `t/a.rs::present` | it would fail |
| NOTE-5 | six cells | `t/a.rs` | `t/a.rs::present` | the check would fail here | extra |
";
    let (rows, problems) = check_registry(registry, dir.path());
    assert_eq!(rows, 11);
    let ids: Vec<&str> = problems.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "BAD-1", "BAD-2", "BAD-3", "BAD-3", "BAD-4", "OK-1", "NOTE-1", "NOTE-2", "NOTE-3",
            "NOTE-4", "NOTE-5"
        ],
        "{problems:#?}"
    );
    let what: Vec<&str> = problems.iter().map(|p| p.what.as_str()).collect();
    assert!(
        what[6].contains("expected 5 cells, found 4"),
        "{problems:#?}"
    );
    assert!(what[7].contains("note has 1 words"), "{problems:#?}");
    assert!(what[8].contains("note has 0 words"), "{problems:#?}");
    assert!(what[9].contains("note has 3 words"), "{problems:#?}");
    assert!(
        what[10].contains("expected 5 cells, found 6"),
        "{problems:#?}"
    );
}
