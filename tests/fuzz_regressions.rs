//! Replays, on stable and without libFuzzer, every input the fuzzer ever crashed on
//! (`tests/fuzz-regressions/<target>/`) and every committed seed (`fuzz/seeds/<target>/`)
//! through the same harnesses the fuzz targets run (fuzz/src/lib.rs), so a fixed crash stays
//! fixed and the harnesses' own assertions hold on real data.

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::path::Path;

/// A harness: arbitrary bytes in, a panic only on a bug.
type Harness = fn(&[u8]);

/// Every fuzz target with its harness.
const TARGETS: [(&str, Harness); 8] = [
    ("entry", harness::entry),
    ("note", harness::note),
    ("checkpoint", harness::checkpoint),
    ("proof", harness::proof),
    ("guard", harness::guard),
    ("policy", harness::policy),
    ("segment", harness::segment),
    ("export", harness::export),
];

/// Runs `target`'s harness on every file in `dir` (if it exists); returns how many.
fn replay(dir: &Path, target: &str, harness: Harness) -> usize {
    let Ok(rd) = std::fs::read_dir(dir.join(target)) else {
        return 0;
    };
    let mut n = 0;
    for de in rd {
        let path = de.expect("directory entry").path();
        let data = std::fs::read(&path).expect("input file");
        let outcome = std::panic::catch_unwind(|| harness(&data));
        assert!(outcome.is_ok(), "{target}: {} panics", path.display());
        n += 1;
    }
    n
}

#[test]
fn crash_inputs_found_by_fuzzing_no_longer_crash() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    for (target, harness) in TARGETS {
        replay(&dir, target, harness);
    }
}

#[test]
fn every_seed_passes_its_harness() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (target, harness) in TARGETS {
        let n = replay(&dir, target, harness);
        assert!(n > 0, "no seeds for {target} in {}", dir.display());
    }
}
