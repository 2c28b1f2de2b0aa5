//! What the model, the engine, the in-memory cloud and the benchmark know of a kind without
//! calling it: each kind declares one `KindInfo` (`Kind::INFO`).

use crate::model::NameStyle;

/// What the model and the engine know of a kind without calling it.
#[derive(Debug)]
pub struct KindInfo {
    pub kind: &'static str,
    pub name_style: NameStyle,
    /// Attributes other resources may reference.
    pub attributes: &'static [&'static str],
    /// Attributes only known once the resource is usable; a reference to one waits for that.
    pub ready_attributes: &'static [&'static str],
    /// How long one resource of this kind may take to converge or to go away.
    pub deadline_secs: u64,
    /// Deleted together with what it depends on (rows and roles inside a database cluster):
    /// destroy makes no call for it.
    pub cascades: bool,
    /// Properties that name files or directories (a string or a list of strings): relative
    /// ones are relative to the stack file's directory.
    pub files: &'static [&'static str],
    /// How the in-memory cloud and the virtual-time benchmark model it.
    pub sim: Sim,
}

impl KindInfo {
    /// What a kind that says nothing else is: named `agentcore-mt-<env>-t<N>-<id>`, referenced
    /// by nothing, five minutes to converge or go, deleted by its own call, naming no files,
    /// one quick call in the fake cloud. Every kind names itself (`kind`).
    pub const DEFAULT: KindInfo = KindInfo {
        kind: "",
        name_style: NameStyle::Dashed,
        attributes: &[],
        ready_attributes: &[],
        deadline_secs: 300,
        cascades: false,
        files: &[],
        sim: SIM,
    };
}

/// A kind as the in-memory cloud plays it: the mutating calls one create takes in reality, and
/// AWS-like latencies in seconds (one call; from create until usable; from delete until gone).
#[derive(Debug, Clone, Copy)]
pub struct Sim {
    pub create_steps: usize,
    pub call: f64,
    pub ready: f64,
    pub gone: f64,
}

/// One call, a sixth of a second, usable and gone at once. Source: none published (AWS gives no
/// latency for control-plane calls); an estimate of one round trip within a region. Each kind's
/// own `sim` says where its numbers come from, or that they are estimates.
pub const SIM: Sim = Sim { create_steps: 1, call: 0.15, ready: 0.0, gone: 0.0 };
