//! The `next` cursor decoder and encoder.
//! The properties checked are in `tower_taxii::__fuzz::cursor` (src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_taxii::__fuzz::cursor(data));
