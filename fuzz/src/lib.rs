//! Samordna's fuzz targets. The bodies live in [`targets`], which `core/tests/fuzz_corpus.rs` also
//! compiles, so the committed corpus and every crash found replay on stable in the normal test suite.

pub mod targets;
