//! The query-string parser (every endpoint's parameter set, default and small limits) and the timestamp parser.
//! The properties checked are in `tower_taxii::__fuzz::query` (src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_taxii::__fuzz::query(data));
