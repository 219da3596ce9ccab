//! Envelope ingestion: the add-objects body parser and object validation.
//! The properties checked are in `tower_taxii::__fuzz::envelope` (src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_taxii::__fuzz::envelope(data));
