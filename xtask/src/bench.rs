//! `cargo xtask bench`: the engine's deploy schedule for the full tutorial 1, 2 and 3 graph (the
//! shipped stacks, agents included, as `--env` chooses: a `pr-*` environment's claims database
//! takes the express path) on the fake cloud, in virtual time, with AWS-like latencies (each
//! kind's `Sim`, with its source beside it).
//!
//! It reports the makespan against the critical-path lower bound (no schedule can be faster)
//! and against the sum of all steps (what a sequential script takes). Every kind is the real
//! one's metadata (attributes, readiness) on the fake cloud, with AWS-like waits.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::engine::{Backoff, Engine, Silent};
use crate::events::{self, Event};
use crate::fake::{self, FakeCloud, Latency};
use crate::kinds::{self, KindInfo};
use crate::model::{self, Stack};
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// How many runs (the backoff jitter makes each a little different).
    #[arg(long, default_value_t = 5)]
    runs: u32,
    /// Instead: Row-Level Security's cost on the local cloud. Deploys tutorial 2 as env
    /// `bench`, loads --rows claims over --tenants tenants, compares a tenant's queries through
    /// the RLS path with explicit `WHERE tenant_id = ...` as superuser, then destroys `bench`.
    #[arg(long)]
    rls: bool,
    /// With --rls: how many claims to load.
    #[arg(long, default_value_t = 1_000_000, requires = "rls")]
    rows: u64,
    /// With --rls: over how many tenants (broker ids) the claims are spread.
    #[arg(long, default_value_t = 1000, requires = "rls")]
    tenants: u64,
}

/// AWS-like latencies, as each kind declares them (`KindInfo::sim`).
fn latencies() -> HashMap<&'static str, Latency> {
    kinds::infos().map(|k| (k.kind, Latency::from(k.sim))).collect()
}

/// The shipped stacks: tutorials 1, 2 and 3 with their agents, as environment `env` (name, and
/// `--choose` overrides) deploys them.
pub fn full_graph(root: &Path, env: &(String, Vec<String>)) -> anyhow::Result<Vec<Stack>> {
    let all = model::load_all(&root.join("stacks")).map_err(|e| anyhow::anyhow!("{e}"))?;
    model::choices::for_environment(all, &env.0, &env.1).map_err(|e| anyhow::anyhow!("{e}"))
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Measure {
    /// The resources on the critical path, first to last, each with when it is ready.
    pub path: Vec<String>,
    pub makespan: f64,
    pub critical_path: f64,
    pub sequential: f64,
    pub resources: usize,
}

/// Lower bound and sequential sum under the engine's own rules: observe, create, and (where a
/// dependent needs it) wait until ready; with the resources on the critical path, first to last.
fn bounds(stacks: &[Stack], lat: &HashMap<&'static str, Latency>) -> (f64, f64, Vec<String>) {
    let mut sequential = 0.0;
    // By (stack, id): when its attributes are known, when it is ready, and what it waited for
    // last. Stacks are in tutorial order, so what a stack builds on is timed before it.
    let mut known: HashMap<(&str, &str), f64> = HashMap::new();
    let mut ready: HashMap<(&str, &str), f64> = HashMap::new();
    let mut after: HashMap<(&str, &str), Option<(&str, &str)>> = HashMap::new();
    let mut last: Option<((&str, &str), f64)> = None;
    for s in stacks {
        let order = model::graph::topo_order(&s.resources).expect("acyclic");
        for id in &order {
            let r = s.resources.iter().find(|r| &r.id == id).expect("same stack");
            let l = lat.get(r.kind.kind).copied().unwrap_or_default();
            let (start, waited) = r
                .refs
                .iter()
                .map(|rf| {
                    let stack = rf.stack_or(&s.name);
                    let dep = stacks
                        .iter()
                        .find(|o| o.name == stack)
                        .and_then(|o| o.resources.iter().find(|d| d.id == rf.resource))
                        .expect("validated");
                    let at = (stack, dep.id.as_str());
                    if dep.kind.ready_attributes.contains(&rf.attribute.as_str()) {
                        (ready[&at], Some(at))
                    } else {
                        (known[&at], Some(at))
                    }
                })
                .fold((0.0, None), |a, b| if b.0 > a.0 { b } else { a });
            // observe, then every call of the create (as many as the fake cloud makes)
            let calls = 1.0 + r.kind.sim.create_steps as f64;
            let k = start + calls * l.call.as_secs_f64();
            let me = (s.name.as_str(), r.id.as_str());
            known.insert(me, k);
            ready.insert(me, k + l.ready.as_secs_f64());
            after.insert(me, waited);
            if last.is_none_or(|(_, t)| k + l.ready.as_secs_f64() > t) {
                last = Some((me, k + l.ready.as_secs_f64()));
            }
            sequential += calls * l.call.as_secs_f64() + l.ready.as_secs_f64();
        }
    }
    let critical = last.map(|(_, t)| t).unwrap_or_default();
    let mut path = Vec::new();
    let mut at = last.map(|(r, _)| r);
    while let Some(r) = at {
        path.push(format!("{}/{} ({:.0} s)", r.0, r.1, ready[&r]));
        at = after[&r];
    }
    path.reverse();
    (critical, sequential, path)
}

/// One deploy of the full graph on a fresh fake cloud, in virtual time.
pub fn measure(root: &Path, env: &(String, Vec<String>)) -> anyhow::Result<Measure> {
    let stacks = full_graph(root, env)?;
    let lat = latencies();
    let (critical_path, sequential, path) = bounds(&stacks, &lat);
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build()?;
    let makespan = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                rt.block_on(async {
                    let cloud = FakeCloud::new();
                    for (k, l) in &lat {
                        cloud.set_latency(k, *l);
                    }
                    let infos: Vec<&'static KindInfo> = kinds::infos().collect();
                    let engine = Arc::new(Engine {
                        kinds: fake::registry(&cloud, &infos),
                        env: env.0.clone(),
                        account: "000000000000".into(),
                        reporter: Arc::new(Silent),
                        backoff: Backoff::default(),
                        stop: Default::default(),
                    });
                    let selected: Vec<&Stack> = stacks.iter().collect();
                    let start = tokio::time::Instant::now();
                    let outcomes = engine.deploy(&selected).await;
                    let failed: Vec<_> = outcomes.iter().filter_map(|o| o.error.clone()).collect();
                    anyhow::ensure!(failed.is_empty(), "the simulated deploy failed: {failed:?}");
                    Ok(start.elapsed().as_secs_f64())
                })
            })
            .join()
            .expect("the benchmark thread does not panic")
    })?;
    Ok(Measure {
        path,
        makespan,
        critical_path,
        sequential,
        resources: stacks.iter().map(|s| s.resources.len()).sum(),
    })
}

pub async fn run(
    args: &BenchArgs,
    env: &(String, Vec<String>),
    root: &Path,
    paths: &crate::cloud::local::Paths,
    state_dir: &Path,
    out: &Output,
) -> anyhow::Result<crate::output::Exit> {
    if args.rls {
        return rls(args, root, paths, state_dir, out);
    }
    let runs = args.runs.max(1);
    let (at, from) = (env.clone(), root.to_path_buf());
    let results = tokio::task::spawn_blocking(move || {
        (0..runs).map(|_| measure(&from, &at)).collect::<anyhow::Result<Vec<_>>>()
    })
    .await??;
    let worst = results.iter().map(|m| m.makespan).fold(0.0, f64::max);
    let best = results.iter().map(|m| m.makespan).fold(f64::MAX, f64::min);
    let m = &results[0];
    let chosen = full_graph(root, env)?
        .iter()
        .flat_map(|s| s.chosen.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>())
        .collect::<Vec<_>>()
        .join(", ");
    out.say(&format!(
        "deploy schedule of env `{}` ({chosen}), tutorials 1, 2 and 3 with their agents ({} resources), virtual time, {runs} run{}:",
        env.0,
        m.resources,
        if runs == 1 { "" } else { "s" }
    ));
    out.say(&format!("  critical-path lower bound  {:>8.1} s", m.critical_path));
    out.say(&format!(
        "  makespan (best / worst)    {:>8.1} s / {:.1} s  = {:.3} x / {:.3} x the critical path",
        best,
        worst,
        best / m.critical_path,
        worst / m.critical_path
    ));
    out.say(&format!(
        "  sequential sum of steps    {:>8.1} s  = {:.2} x the worst makespan",
        m.sequential,
        m.sequential / worst
    ));
    out.say(&format!("  critical path              {}", m.path.join(" -> ")));
    out.event(Event::Bench(events::Bench {
        env: env.0.clone(),
        critical_path: m.path.clone(),
        resources: m.resources,
        runs,
        critical_path_s: m.critical_path,
        makespan_best_s: best,
        makespan_worst_s: worst,
        sequential_s: m.sequential,
        worst_over_critical: worst / m.critical_path,
        sequential_over_worst: m.sequential / worst,
    }));
    Ok(crate::output::Exit::Ok)
}

/// `bench --rls`: see `xtask/bench/rls_bench.py`.
fn rls(
    args: &BenchArgs,
    root: &Path,
    paths: &crate::cloud::local::Paths,
    state_dir: &Path,
    out: &Output,
) -> anyhow::Result<crate::output::Exit> {
    use anyhow::Context;
    let spin = out.spinner("starting the local cloud");
    let endpoints = crate::cloud::local::up(paths, &|m| spin.set_message(m.to_string()))?;
    let me = std::env::current_exe()?;
    let xtask = |verb: &str| {
        std::process::Command::new(&me)
            .args([verb, "--tutorial", "2", "--env", "bench", "--state-dir"])
            .arg(state_dir)
            .stdout(std::process::Stdio::null())
            .output()
    };
    spin.set_message("deploying tutorial 2 as env `bench`");
    let deployed = xtask("deploy")?;
    anyhow::ensure!(
        deployed.status.success(),
        "deploy of env bench failed:\n{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    spin.set_message(format!(
        "loading {} claims over {} tenants and timing queries",
        args.rows, args.tenants
    ));
    let result = std::process::Command::new(paths.venv.join("bin/python"))
        .arg(root.join("xtask/bench/rls_bench.py"))
        .arg(&endpoints.ministack)
        .arg(paths.dir.join("clusters"))
        .args(["bench", &args.rows.to_string(), &args.tenants.to_string(), "30"])
        .output()
        .context("cannot run rls_bench.py")?;
    spin.set_message("destroying env `bench`");
    let destroyed = xtask("destroy")?;
    spin.finish_and_clear();
    anyhow::ensure!(
        result.status.success(),
        "rls_bench.py failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    anyhow::ensure!(
        destroyed.status.success(),
        "destroy of env bench failed:\n{}",
        String::from_utf8_lossy(&destroyed.stderr)
    );
    let report: Value = serde_json::from_slice(&result.stdout)?;
    out.say(&format!("Row-Level Security path vs explicit WHERE as superuser, {} claims over {} tenants, medians of {} interleaved runs:", report["rows"], report["tenants"], report["repeat"]));
    out.say(&format!(
        "  {:<30} {:>10} {:>10} {:>8} {:>12}",
        "query", "RLS ms", "direct ms", "ratio", "rows"
    ));
    for (name, q) in report["queries"].as_object().into_iter().flatten() {
        let cell = |v: &Value| v.to_string();
        out.say(&format!(
            "  {:<30} {:>10} {:>10} {:>8} {:>12}",
            name,
            cell(&q["rls_ms"]),
            cell(&q["direct_ms"]),
            cell(&q["ratio"]),
            cell(&q["rows"])
        ));
    }
    out.say("  plan of the policy-filtered count (as claims_api):");
    for line in report["plan"].as_array().into_iter().flatten() {
        out.say(&format!("    {}", line.as_str().unwrap_or_default()));
    }
    out.event(Event::BenchRls { report });
    Ok(crate::output::Exit::Ok)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schedule_overlaps_independent_work() {
        let root = &crate::workspace();
        let m = super::measure(root, &("dev".into(), vec![])).unwrap();
        assert!(
            m.makespan >= m.critical_path - 1e-6,
            "{m:?}: faster than the lower bound means the bound is wrong"
        );
        assert!(m.makespan < m.sequential / 1.5, "{m:?}: no overlap");
    }
}
