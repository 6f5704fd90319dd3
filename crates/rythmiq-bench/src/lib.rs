//! The `bench` command: the pipeline over a corpus on one thread, cold then warm, with per-stage CPU, accuracy
//! against ground truth, and (optionally) the `tesseract` CLI on the same documents in the same run.
//!
//! Invariant: the bench measures and summarises; it never changes how the pipeline runs a document.

pub mod accuracy;
pub mod baseline;
pub mod breakdown;
pub mod compare;
pub mod corpus;
pub mod run;
pub mod summary;

pub use baseline::{cli_available, run_cli, CliBaseline};
pub use breakdown::{breakdown, render_breakdown, Breakdown, GroupFigures};
pub use compare::{render_compare, run_compare, CompareError, CompareOptions, Matrix};
pub use corpus::{load_corpus, load_corpus_split, CorpusDoc, Split, SplitFilter, KINDS};
pub use run::{run_bench, BenchOptions, RawBench};
pub use summary::{render_tables, summarise, BenchSummary};
