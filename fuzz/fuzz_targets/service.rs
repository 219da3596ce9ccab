//! The whole service: arbitrary method, URI, headers and body against an in-memory fixture.
//! The properties checked are in `tower_taxii::__fuzz::service` (src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_taxii::__fuzz::service(data));
