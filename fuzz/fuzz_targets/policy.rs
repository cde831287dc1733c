#![no_main]
//! cargo-fuzz target; the harness is `borderlog_fuzz::policy` (fuzz/src/lib.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| borderlog_fuzz::policy(data));
