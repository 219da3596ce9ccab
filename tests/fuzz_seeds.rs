//! Runs every fuzz seed (`fuzz/seeds/<target>/`) and every saved finding
//! (`fuzz/regressions/<target>/`) through the same functions the cargo-fuzz targets
//! call, so `cargo test --all-features` (and CI) checks them without a fuzzer.
#![cfg(feature = "fuzzing")]

use std::path::Path;

use tower_taxii::__fuzz::TARGETS;

/// The files under `fuzz/<kind>/<target>/`, sorted (none when the folder is absent).
fn inputs(kind: &str, target: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(kind).join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_seed_and_saved_finding_passes_its_target() {
    let mut total = 0;
    for (target, run) in TARGETS {
        let seeds = inputs("seeds", target);
        assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ has no seeds");
        for path in seeds.iter().chain(&inputs("regressions", target)) {
            let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "fuzz target {target} fails on {}", path.display());
            total += 1;
        }
    }
    println!("{total} fuzz inputs passed");
}
