//! An environment's life around the engine: its lock and deployment record (`lock.rs`), what it
//! owns, proven by name and tags (`owned.rs`), what no stack declares any more (`orphans.rs`),
//! the reaper (`gc.rs`), its idle cost (`cost.rs`) and the Markdown report of a run (`report.rs`).

pub mod cost;
pub mod gc;
pub mod lock;
pub mod orphans;
pub mod owned;
pub mod report;
