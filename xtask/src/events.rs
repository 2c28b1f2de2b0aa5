//! What `--output-format json` writes: one `Event` per line on stdout. The README's "Output
//! events" table documents every type and field; a test below keeps the two in step.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::engine::{Action, FieldChange, Outcome};

/// One line of NDJSON. Fields are written in the order declared here; optional ones only when
/// they hold something.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// First line of every run: the version of this format.
    Version { version: u32 },
    /// What deploy, plan or destroy did (or will do) to one resource.
    Resource(Resource),
    /// What status found of one resource.
    #[serde(rename = "resource")]
    Found(Found),
    /// A call that is retried (throttled, or waiting for IAM to propagate).
    Retry { stack: String, id: String, reason: String },
    /// A resource with the environment's tags that no stack declares (any more).
    Orphan(Orphan),
    /// Why a run failed before or instead of its work.
    Error(Error),
    /// How a run ended: always the last line.
    Summary(Summary),
    /// `validate`: one stack file that is valid.
    Stack { stack: String, file: PathBuf, resources: usize, valid: bool },
    /// `permissions`: the IAM policy document.
    Policy {
        env: Option<String>,
        document: Value,
        /// With `--parts`: which managed policy this is (1, 2, ...) and where it was written.
        #[serde(skip_serializing_if = "Option::is_none")]
        part: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        file: Option<std::path::PathBuf>,
    },
    /// `cost`: one deployed resource's idle monthly cost.
    Cost(crate::lifecycle::cost::Line),
    /// `verify`: one case and how it went.
    Case(crate::agents::Case),
    /// `invoke`: the agent's answer.
    Answer { tutorial: u8, agent: String, user: String, prompt: String, status: u16, text: String },
    /// `retrieve`: what the user's tier may read.
    Retrieval { user: String, tier: String, query: String, results: Vec<Value> },
    /// `demo`: the page listens.
    Demo { url: String, env: String, page_bytes: u64 },
    /// `demo --build-only`: the built page.
    Page { path: PathBuf, bytes: u64, by_extension: BTreeMap<String, u64> },
    /// `package`: one agent's built package.
    Package {
        stack: String,
        id: String,
        #[serde(rename = "for")]
        platform: crate::cloud::TargetKind,
        package: crate::packaging::Built,
    },
    /// `local`: the local cloud's state.
    Local {
        state: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        venv: Option<PathBuf>,
        #[serde(skip_serializing_if = "Option::is_none")]
        endpoints: Option<crate::cloud::local::Endpoints>,
        #[serde(skip_serializing_if = "Option::is_none")]
        stopped: Option<bool>,
    },
    /// `unlock`: whose lock was broken, if any.
    Unlock {
        env: String,
        was_locked: bool,
        #[serde(flatten, skip_serializing_if = "Option::is_none")]
        lease: Option<BrokenLease>,
    },
    /// `gc`: what became of one environment.
    Environment(Environment),
    /// `bench`: the schedule in virtual time.
    Bench(Bench),
    /// `bench --rls`: Row-Level Security's cost.
    BenchRls { report: Value },
}

#[derive(Debug, Serialize)]
pub struct Resource {
    pub stack: String,
    pub id: String,
    pub kind: String,
    pub physical_name: String,
    /// create, update, delete or noop (a replacement is an update with `replace`).
    pub action: &'static str,
    pub replace: bool,
    /// done, planned, failed, or interrupted (not started, or abandoned, by a Ctrl-C).
    pub status: &'static str,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

impl Resource {
    /// The event of an outcome; `status` is the word for one that did not fail.
    pub fn of(o: &Outcome, status: &'static str) -> Event {
        Event::Resource(Resource {
            stack: o.stack.clone(),
            id: o.id.clone(),
            kind: o.kind.clone(),
            physical_name: o.physical_name.clone(),
            action: match o.action {
                Action::Replace => "update",
                a => a.as_str(),
            },
            replace: o.action == Action::Replace,
            status: match &o.error {
                None => status,
                Some(e) if e.starts_with(crate::engine::INTERRUPTED) => "interrupted",
                Some(_) => "failed",
            },
            seconds: (o.seconds * 1000.0).round() / 1000.0,
            error: o.error.clone(),
            note: o.note.clone(),
            changes: o.changes.clone(),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Found {
    pub stack: String,
    pub id: String,
    pub kind: String,
    pub physical_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<crate::engine::Outputs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Orphan {
    pub stack: String,
    pub id: String,
    pub arn: String,
    pub declared: bool,
    /// Only when `destroy --orphans` or `gc` tried to delete it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// `invalid_stack`: each problem with file, line and hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<crate::model::Diagnostic>>,
    /// `locked`: the run that holds the lock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<crate::lifecycle::lock::Holder>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquired_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `built_on`: the deployed tutorials that build on what was to be destroyed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependents: Option<Vec<String>>,
}

/// What went wrong, for a machine to branch on.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The command line does not parse (an unknown option, a malformed value, a missing
    /// argument): clap's message.
    InvalidArguments,
    /// `--env` is not a valid environment name.
    InvalidEnv,
    /// `--tutorial` names no stack file.
    UnknownTutorial,
    /// A stack file is invalid (with `diagnostics`).
    InvalidStack,
    /// A file or directory a stack file names is missing or invalid.
    InvalidFiles,
    /// A report input line is not a JSON event.
    InvalidInput,
    /// A deployed tutorial builds on what destroy was asked to remove (with `dependents`).
    BuiltOn,
    /// No selected tutorial has an agent (or agent package).
    NoAgent,
    /// No selected tutorial has that demo user.
    UnknownUser,
    /// Another run holds the environment's lock (with `holder`).
    Locked,
    /// Ctrl-C while waiting for the lock.
    Interrupted,
    /// Anything else: the message says what.
    #[default]
    Failed,
}

impl Error {
    pub fn new(kind: ErrorKind, message: &str) -> Error {
        Error { kind, message: message.to_string(), ..Error::default() }
    }
}

/// API calls made, mutating and read-only.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Calls {
    pub mutating: u64,
    pub read: u64,
}

impl Calls {
    pub fn of((read, mutating): (u64, u64)) -> Calls {
        Calls { mutating, read }
    }
}

/// A run's last line; its fields depend on the command.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Summary {
    /// deploy, plan, destroy.
    Run {
        command: &'static str,
        env: String,
        target: crate::cloud::TargetKind,
        ok: bool,
        interrupted: bool,
        counts: BTreeMap<&'static str, usize>,
        api_calls: Calls,
        orphans: usize,
        lock: Option<Lock>,
        seconds: f64,
    },
    Status {
        command: &'static str,
        ok: bool,
        api_calls: Calls,
    },
    Cost {
        command: &'static str,
        env: String,
        target: crate::cloud::TargetKind,
        ok: bool,
        resources: usize,
        monthly_usd: f64,
        prices: Prices,
    },
    Verify {
        command: &'static str,
        env: String,
        target: crate::cloud::TargetKind,
        cases: usize,
        passed: usize,
        failed: usize,
        not_run: usize,
    },
    Gc {
        command: &'static str,
        ok: bool,
        interrupted: bool,
        dry_run: bool,
        environments: BTreeMap<&'static str, usize>,
        api_calls: Calls,
        seconds: f64,
    },
    /// Any run that ended without its own summary (an error before or instead of its work).
    Ended {
        command: &'static str,
        env: String,
        ok: bool,
        exit_code: u8,
    },
}

/// The environment's lock, as a deploy or destroy held it.
#[derive(Debug, Serialize)]
pub struct Lock {
    pub waited_seconds: f64,
    pub took_over_from: Option<crate::lifecycle::lock::Holder>,
    pub api_calls: Calls,
}

#[derive(Debug, Serialize)]
pub struct Prices {
    pub region: String,
    pub checked: String,
}

#[derive(Debug, Serialize)]
pub struct BrokenLease {
    pub holder: crate::lifecycle::lock::Holder,
    pub acquired_at: String,
    pub renewed_at: String,
    pub expires_at: String,
}

#[derive(Debug, Serialize)]
pub struct Environment {
    pub env: String,
    /// kept, would_destroy, in_use, destroyed or failed.
    pub status: &'static str,
    pub reason: String,
    pub resources: usize,
    pub youngest_age_seconds: Option<u64>,
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<crate::lifecycle::lock::Holder>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<usize>,
}

/// Seconds to a tenth.
pub fn tenths(seconds: f64) -> f64 {
    (seconds * 10.0).round() / 10.0
}

/// The deploy schedule in virtual time, in seconds.
#[derive(Debug, Serialize)]
pub struct Bench {
    pub env: String,
    /// The resources on the critical path, first to last, with when each is ready.
    pub critical_path: Vec<String>,
    pub resources: usize,
    pub runs: u32,
    pub critical_path_s: f64,
    pub makespan_best_s: f64,
    pub makespan_worst_s: f64,
    pub sequential_s: f64,
    pub worst_over_critical: f64,
    pub sequential_over_worst: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::{Case, Category, Verdict};
    use crate::cloud::TargetKind;

    /// Which variant an event is (a new variant does not compile until it has a number here,
    /// and the test then wants a sample of it).
    fn variant(e: &Event) -> usize {
        match e {
            Event::Version { .. } => 0,
            Event::Resource(_) => 1,
            Event::Found(_) => 2,
            Event::Retry { .. } => 3,
            Event::Orphan(_) => 4,
            Event::Error(_) => 5,
            Event::Summary(Summary::Run { .. }) => 6,
            Event::Summary(Summary::Status { .. }) => 7,
            Event::Summary(Summary::Cost { .. }) => 8,
            Event::Summary(Summary::Verify { .. }) => 9,
            Event::Summary(Summary::Gc { .. }) => 10,
            Event::Summary(Summary::Ended { .. }) => 11,
            Event::Stack { .. } => 12,
            Event::Policy { .. } => 13,
            Event::Cost(_) => 14,
            Event::Case(_) => 15,
            Event::Answer { .. } => 16,
            Event::Retrieval { .. } => 17,
            Event::Demo { .. } => 18,
            Event::Page { .. } => 19,
            Event::Package { .. } => 20,
            Event::Local { .. } => 21,
            Event::Unlock { .. } => 22,
            Event::Environment(_) => 23,
            Event::Bench(_) => 24,
            Event::BenchRls { .. } => 25,
        }
    }
    const VARIANTS: usize = 26;

    fn holder() -> crate::lifecycle::lock::Holder {
        crate::lifecycle::lock::Holder {
            command: "deploy".into(),
            host: "h".into(),
            pid: 1,
            user: "u".into(),
            ci_run: None,
        }
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    /// One event of each variant, every optional field set.
    fn samples() -> Vec<Event> {
        let calls = Calls { mutating: 1, read: 2 };
        vec![
            Event::Version { version: 1 },
            Event::Resource(Resource {
                stack: s("st"),
                id: s("id"),
                kind: s("k"),
                physical_name: s("n"),
                action: "update",
                replace: false,
                status: "failed",
                seconds: 1.0,
                error: Some(s("e")),
                note: Some(s("n")),
                changes: vec![FieldChange {
                    field: s("f"),
                    current: Value::Null,
                    desired: Value::Null,
                    replaces: false,
                }],
            }),
            Event::Found(Found {
                stack: s("st"),
                id: s("id"),
                kind: s("k"),
                physical_name: s("n"),
                exists: Some(true),
                outputs: Some(Default::default()),
                error: Some(s("e")),
            }),
            Event::Retry { stack: s("st"), id: s("id"), reason: s("r") },
            Event::Orphan(Orphan {
                stack: s("st"),
                id: s("id"),
                arn: s("a"),
                declared: false,
                deleted: Some(false),
                error: Some(s("e")),
            }),
            Event::Error(Error {
                kind: ErrorKind::Locked,
                message: s("m"),
                diagnostics: Some(Vec::new()),
                holder: Some(holder()),
                acquired_at: Some(s("t")),
                expires_at: Some(s("t")),
                dependents: Some(Vec::new()),
            }),
            Event::Summary(Summary::Run {
                command: "deploy",
                env: s("dev"),
                target: TargetKind::Local,
                ok: true,
                interrupted: false,
                counts: BTreeMap::new(),
                api_calls: calls,
                orphans: 0,
                lock: None,
                seconds: 1.0,
            }),
            Event::Summary(Summary::Status { command: "status", ok: true, api_calls: calls }),
            Event::Summary(Summary::Cost {
                command: "cost",
                env: s("dev"),
                target: TargetKind::Local,
                ok: true,
                resources: 1,
                monthly_usd: 1.0,
                prices: Prices { region: s("r"), checked: s("c") },
            }),
            Event::Summary(Summary::Verify {
                command: "verify",
                env: s("dev"),
                target: TargetKind::Local,
                cases: 1,
                passed: 1,
                failed: 0,
                not_run: 0,
            }),
            Event::Summary(Summary::Gc {
                command: "gc",
                ok: true,
                interrupted: false,
                dry_run: true,
                environments: BTreeMap::new(),
                api_calls: calls,
                seconds: 1.0,
            }),
            Event::Summary(Summary::Ended {
                command: "deploy",
                env: s("dev"),
                ok: false,
                exit_code: 2,
            }),
            Event::Stack { stack: s("st"), file: PathBuf::from("f"), resources: 1, valid: true },
            Event::Policy {
                env: None,
                document: Value::Null,
                part: Some(1),
                file: Some("f".into()),
            },
            Event::Cost(crate::lifecycle::cost::Line {
                stack: s("st"),
                id: s("id"),
                kind: s("k"),
                physical_name: s("n"),
                monthly_usd: 1.0,
                basis: s("b"),
                source: s("s"),
            }),
            Event::Case(Case {
                tutorial: 1,
                agent: s("a"),
                category: Category::Token,
                name: s("n"),
                outcome: Verdict::NotRun,
                detail: s("d"),
            }),
            Event::Answer {
                tutorial: 1,
                agent: s("a"),
                user: s("u"),
                prompt: s("p"),
                status: 200,
                text: s("t"),
            },
            Event::Retrieval { user: s("u"), tier: s("t"), query: s("q"), results: Vec::new() },
            Event::Demo { url: s("u"), env: s("e"), page_bytes: 1 },
            Event::Page { path: PathBuf::from("p"), bytes: 1, by_extension: BTreeMap::new() },
            Event::Package {
                stack: s("st"),
                id: s("id"),
                platform: TargetKind::Aws,
                package: crate::packaging::Built {
                    path: PathBuf::from("p"),
                    digest: s("d"),
                    size: 1,
                    unzipped: 1,
                    files: 1,
                    native_libraries: 0,
                },
            },
            Event::Local {
                state: "up",
                venv: Some(PathBuf::from("v")),
                endpoints: Some(crate::cloud::local::Endpoints {
                    ministack: s("m"),
                    moto: s("m"),
                    data_api: s("d"),
                    runtime_host: s("r"),
                    ministack_pid: 1,
                    moto_pid: 1,
                    data_api_pid: 1,
                    runtime_host_pid: 1,
                    database_gateway: s("127.0.0.1:1"),
                }),
                stopped: Some(false),
            },
            Event::Unlock {
                env: s("e"),
                was_locked: true,
                lease: Some(BrokenLease {
                    holder: holder(),
                    acquired_at: s("t"),
                    renewed_at: s("t"),
                    expires_at: s("t"),
                }),
            },
            Event::Environment(Environment {
                env: s("e"),
                status: "failed",
                reason: s("r"),
                resources: 1,
                youngest_age_seconds: None,
                expires_at: None,
                holder: Some(holder()),
                deleted: Some(1),
                failed: Some(1),
            }),
            Event::Bench(Bench {
                env: s("pr-1"),
                critical_path: vec![s("a/b (1 s)")],
                resources: 1,
                runs: 1,
                critical_path_s: 1.0,
                makespan_best_s: 1.0,
                makespan_worst_s: 1.0,
                sequential_s: 1.0,
                worst_over_critical: 1.0,
                sequential_over_worst: 1.0,
            }),
            Event::BenchRls { report: Value::Null },
        ]
    }

    /// The README's table: (type, fields in order, optional ones marked).
    fn documented() -> Vec<(String, Vec<(String, bool)>)> {
        let readme =
            std::fs::read_to_string(crate::workspace().join("README.md")).expect("the README");
        let section = readme
            .split("### Output events")
            .nth(1)
            .expect("the README has an \"Output events\" section");
        let section = section.split("\n#").next().unwrap_or_default();
        section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .skip(1) // the header
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let fields = cells[3]
                    .split(", ")
                    .map(|f| {
                        let optional = f.ends_with('?');
                        (f.trim_end_matches('?').trim_matches('`').to_string(), optional)
                    })
                    .collect();
                (cells[1].trim_matches('`').to_string(), fields)
            })
            .collect()
    }

    /// An event's type and its fields in the order written.
    fn written(e: &Event) -> (String, Vec<String>) {
        let v = serde_json::to_value(e).expect("serializes");
        let map = v.as_object().expect("an object");
        let mut keys = map.keys().cloned();
        assert_eq!(keys.next().as_deref(), Some("type"), "type comes first");
        (map["type"].as_str().expect("a string").to_string(), keys.collect())
    }

    #[test]
    fn readme_documents_every_event() {
        let samples = samples();
        let mut seen: Vec<usize> = samples.iter().map(variant).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, (0..VARIANTS).collect::<Vec<_>>(), "a sample of every variant");
        let documented = documented();
        let mut matched = vec![false; documented.len()];
        for e in &samples {
            let (ty, keys) = written(e);
            let row = documented
                .iter()
                .position(|(t, fields)| t == &ty && fields.iter().map(|(f, _)| f).eq(keys.iter()));
            let Some(row) = row else {
                panic!("README's Output events table lacks `{ty}` with fields {keys:?}");
            };
            matched[row] = true;
        }
        for ((ty, fields), matched) in documented.iter().zip(matched) {
            assert!(matched, "README documents `{ty}` {fields:?}, which no event writes");
        }
    }

    /// A field the README marks optional is left out when empty; every other one is always
    /// written (checked on the events with nothing optional set).
    #[test]
    fn optional_fields_are_the_documented_ones() {
        let documented = documented();
        let bare = [
            Event::Error(Error::new(ErrorKind::Failed, "m")),
            Event::Orphan(Orphan {
                stack: s("st"),
                id: s("id"),
                arn: s("a"),
                declared: true,
                deleted: None,
                error: None,
            }),
            Event::Unlock { env: s("e"), was_locked: false, lease: None },
        ];
        for e in &bare {
            let (ty, keys) = written(e);
            let (_, fields) = documented.iter().find(|(t, _)| t == &ty).expect("documented");
            let required: Vec<&String> =
                fields.iter().filter(|(_, o)| !o).map(|(f, _)| f).collect();
            assert_eq!(keys.iter().collect::<Vec<_>>(), required, "{ty}");
        }
    }

    #[test]
    fn error_kinds_are_listed_in_the_readme() {
        let readme =
            std::fs::read_to_string(crate::workspace().join("README.md")).expect("the README");
        for kind in [
            ErrorKind::InvalidArguments,
            ErrorKind::InvalidEnv,
            ErrorKind::UnknownTutorial,
            ErrorKind::InvalidStack,
            ErrorKind::InvalidFiles,
            ErrorKind::InvalidInput,
            ErrorKind::BuiltOn,
            ErrorKind::NoAgent,
            ErrorKind::UnknownUser,
            ErrorKind::Locked,
            ErrorKind::Interrupted,
            ErrorKind::Failed,
        ] {
            let name = serde_json::to_value(kind).expect("serializes");
            let name = format!("`{}`", name.as_str().expect("a string"));
            assert!(readme.contains(&name), "the README names error kind {name}");
        }
    }
}
