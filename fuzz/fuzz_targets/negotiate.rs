//! The `Accept` and `Content-Type` parsers.
//! The properties checked are in `tower_taxii::__fuzz::negotiate` (src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_taxii::__fuzz::negotiate(data));
