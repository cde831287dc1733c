#![no_main]
//! cargo-fuzz target; the harness is `borderlog_fuzz::index` (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| borderlog_fuzz::index(data));
