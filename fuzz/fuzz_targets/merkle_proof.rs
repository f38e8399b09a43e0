#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| samordna_fuzz::targets::merkle_proof(data));
