//! Every import of the driver has an export, and every export is an import: the list of
//! imports is read from the driver's source (`src/ndis/imports.rs`, the one place they are
//! declared), the list of exports from [`EXPORTED`], whose entries are each checked against
//! `vmqnic::ndis::sig` at compile time.

use ndis_sim::sim::exports::EXPORTED;

/// The names in the `ndis_imports!` invocation of the driver's imports module.
fn driver_imports() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../src/ndis/imports.rs");
    let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let invocation = source
        .split_once("\nndis_imports! {")
        .map(|(_, rest)| rest)
        .expect("imports.rs invokes ndis_imports!");
    invocation
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("fn "))
        .map(|rest| rest.split(['(', ' ']).next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn every_import_has_an_export_and_every_export_an_import() {
    let mut imports = driver_imports();
    let mut exports: Vec<String> = EXPORTED.iter().map(|name| (*name).to_owned()).collect();
    assert!(imports.len() >= 29, "parsed only {} imports: {imports:?}", imports.len());
    imports.sort();
    exports.sort();
    let missing: Vec<&String> = imports.iter().filter(|i| !exports.contains(i)).collect();
    let extra: Vec<&String> = exports.iter().filter(|e| !imports.contains(e)).collect();
    assert!(missing.is_empty(), "imports without an export: {missing:?}");
    assert!(extra.is_empty(), "exports the driver does not import: {extra:?}");
}
