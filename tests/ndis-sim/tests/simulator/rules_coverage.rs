//! Every contract check must have a test that makes it fire: a rule no test names could be
//! broken (or never fire) without anyone noticing. This test reads the rules the simulator
//! defines and requires each one, by constant or by its string, in some test file.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(NAME, "Value")` of every `pub const NAME: &str = "Value";` in rules.rs.
fn rules() -> Vec<(String, String)> {
    let source =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sim/rules.rs")).unwrap();
    let mut rules = Vec::new();
    let mut rest = source.as_str();
    while let Some(start) = rest.find("pub const ") {
        rest = &rest[start + "pub const ".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let declaration = &rest[..rest.find(';').unwrap()];
        if let (Some(open), true) = (declaration.find('"'), declaration.contains("&str")) {
            let value = &declaration[open + 1..];
            rules.push((name, value[..value.find('"').unwrap()].to_owned()));
        }
    }
    rules
}

#[test]
fn every_rule_has_a_test_that_names_it() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&manifest.join("tests"), &mut files);
    rust_files(&manifest.join("../../tests").canonicalize().unwrap(), &mut files);
    let tests: String = files
        .iter()
        .filter(|f| !f.ends_with("rules_coverage.rs") && !f.starts_with(manifest.join("src")))
        .map(|f| fs::read_to_string(f).unwrap())
        .collect();
    let rules = rules();
    assert!(rules.len() > 50, "rules.rs parsed: {} rules", rules.len());
    let untested: Vec<&(String, String)> = rules
        .iter()
        .filter(|(name, value)| {
            !tests.contains(&format!("rules::{name}")) && !tests.contains(&format!("\"{value}\""))
        })
        .collect();
    assert!(untested.is_empty(), "rules no test names: {untested:?}");
}
