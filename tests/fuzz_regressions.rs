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
const TARGETS: [(&str, Harness); 9] = [
    ("entry", harness::entry),
    ("note", harness::note),
    ("checkpoint", harness::checkpoint),
    ("proof", harness::proof),
    ("guard", harness::guard),
    ("policy", harness::policy),
    ("segment", harness::segment),
    ("export", harness::export),
    ("index", harness::index),
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

/// The `index` harness's logic on stable, over generated damage: for every index file a
/// fuzzer could pick, bits flipped at its start, middle and end, the file cut short and the
/// file replaced by junk. Each time the store must open and answer as before (the harness
/// asserts it).
#[test]
fn damaged_index_files_are_rebuilt_never_abort() {
    let mut inputs = 0;
    for pick in 0..=255u8 {
        for (mode, at, rest) in [
            (1u8, 0u16, vec![0x01]),
            (1, 13, vec![0x80]),
            (1, 100, vec![0x10, 0, 0, 0x04]),
            (1, 1000, vec![0x40]),
            (2, 5, vec![]),
            (2, 50, vec![]),
            (0, 0, (0..=255).collect()),
            (0, 0, vec![]),
        ] {
            let mut data = vec![pick, mode];
            data.extend_from_slice(&at.to_le_bytes());
            data.extend_from_slice(&rest);
            harness::index(&data);
            inputs += 1;
        }
        // The harness picks `pick % files`: 32 picks reach every file of its index (about
        // twenty: columns, marker, node levels, posting lists).
        if pick == 31 {
            break;
        }
    }
    assert_eq!(inputs, 32 * 8);
}
