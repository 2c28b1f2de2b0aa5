//! The command line: parses arguments, loads stacks, connects to the target, hands the work to
//! the engine and reports. It knows nothing about SDK calls.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::cloud::{self, local, Clients, TargetKind};
use crate::engine::{self, Engine, Outcome};
use crate::lock;
use crate::model::{self, Stack};
use crate::output::{outcome_event, Format, Output, Tense};

/// Deploys and tears down the agentcore-multitenant reference architecture (Cognito, S3,
/// Bedrock Knowledge Base, Aurora with Row-Level Security, AgentCore Runtime), on the local
/// cloud (the default) or on AWS.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    after_help = "Examples:\n  cargo xtask deploy --tutorial 1                 # on the local cloud (started if needed)\n  cargo xtask plan --tutorial 2 --env pr-42\n  cargo xtask destroy --env pr-42 --output-format json\n  cargo xtask deploy --target aws --tutorial 1    # asks first; --yes or CI=true to skip\n  cargo xtask invoke -t 2 --user mike-broker-a \"Show me all claims\"\n  cargo xtask verify --output-format json         # the isolation suite; exit 1 on any violation\n\nExit codes: 0 success, 1 a resource (or the target, or a verify case) failed, 2 invalid input (stack files, options), 3 another run holds the environment's lock, 130 interrupted (Ctrl-C; run again to go on)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: Global,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
struct Global {
    /// Environment name: namespaces every physical name, so many environments (one per pull
    /// request) live in one account. Lowercase letters, digits and `-`, at most 16.
    #[arg(long, global = true, default_value = "dev", env = "XTASK_ENV")]
    env: String,
    /// Where to deploy: the local cloud on 127.0.0.1, or AWS through the standard credential
    /// chain (AWS_PROFILE, AWS_REGION, SSO, web identity).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "local",
        env = "XTASK_TARGET"
    )]
    target: TargetKind,
    /// human: progress and results on stderr. json: newline-delimited events on stdout.
    #[arg(long, global = true, value_enum, default_value = "human")]
    output_format: Format,
    /// Show every resource, also those that do not change (and, in status, their outputs).
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
    /// Do not ask before changing an AWS account (implied by CI=true).
    #[arg(long, short = 'y', global = true)]
    yes: bool,
    /// The local cloud's processes, the venv and cached outputs live here.
    #[arg(long, global = true, env = "XTASK_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// The stack files.
    #[arg(long, global = true, env = "XTASK_STACKS_DIR")]
    stacks_dir: Option<PathBuf>,
    /// How long deploy, destroy and gc wait while another run holds the environment's lock
    /// (for example 10m). 0s: fail at once (exit 3), naming the holder.
    #[arg(long, global = true, default_value = "0s", value_parser = humantime::parse_duration, env = "XTASK_LOCK_TIMEOUT")]
    lock_timeout: std::time::Duration,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or update everything the selected tutorials need, then wait until it is usable.
    /// Running it again on a converged environment changes nothing.
    #[command(
        after_help = "Examples:\n  cargo xtask deploy                        # all tutorials, on the local cloud\n  cargo xtask deploy -t 2 --env pr-42\n  cargo xtask deploy --target aws -t 1       # shows the plan, then asks (--yes or CI=true: no question)\n  cargo xtask deploy --env pr-42 --ttl 24h --lock-timeout 10m\n\nOne run at a time per environment: a second one waits up to --lock-timeout for the lock, then exits 3 naming the holder.\nCtrl-C: starts nothing new, lets calls in flight finish (20 s at most), exits 130; run it again to go on."
    )]
    Deploy {
        #[command(flatten)]
        select: Select,
        /// Give what this deploy creates an expiry (for example 24h): `cargo xtask gc` removes
        /// the environment once its earliest expiry has passed, whatever --older-than says.
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: Option<std::time::Duration>,
    },
    /// Show what deploy would change, field by field, without changing anything.
    #[command(
        after_help = "Examples:\n  cargo xtask plan -t 1                     # changes only\n  cargo xtask plan -v                       # every resource, also those that stay\n  cargo xtask plan --env pr-42 --output-format json"
    )]
    Plan(Select),
    /// Show what exists of the selected tutorials, with its outputs (pool id, client id, ...).
    #[command(
        after_help = "Examples:\n  cargo xtask status -t 2                   # a table on stdout, totals last\n  cargo xtask status -v                     # with each resource's outputs (pool id, client id, ...)"
    )]
    Status(Select),
    /// Delete everything the selected tutorials own, dependents first. Safe to run again, and
    /// on an environment that was never (or only partly) deployed. Never touches a resource
    /// that lacks this environment's ownership tags.
    #[command(
        after_help = "Examples:\n  cargo xtask destroy                       # everything of env dev\n  cargo xtask destroy -t 3                  # only tutorial 3 (1 and 2 stay)\n  cargo xtask destroy --env pr-42 --target aws --yes"
    )]
    Destroy {
        #[command(flatten)]
        select: Select,
        /// Also delete what carries this environment's tags but no stack file declares any more
        /// (plan and destroy otherwise only warn of such orphans).
        #[arg(long)]
        orphans: bool,
    },
    /// What the deployed resources cost per month while idle (no sign-ins, no invocations, the
    /// database paused), each and in total, from the committed price table
    /// (xtask/prices/idle-monthly.json: us-east-1 prices with their source and date). Read-only.
    #[command(
        after_help = "Examples:\n  cargo xtask cost --env pr-42\n  cargo xtask cost --target aws --env pr-42 --output-format json"
    )]
    Cost(Select),
    /// Check the stack files without calling any API.
    #[command(
        after_help = "Examples:\n  cargo xtask validate\n  cargo xtask validate --stacks-dir my-stacks --output-format json"
    )]
    Validate(Select),
    /// Sign in as a demo user and retrieve from tutorial 1's Knowledge Base with the metadata
    /// filter that user's tier (Cognito group) allows, as the policy agent does.
    #[command(
        after_help = "Examples:\n  cargo xtask retrieve -t 1 --user john-regular \"What is the deductible for auto insurance?\"\n  cargo xtask retrieve -t 1 --user sarah-platinum \"What does platinum roadside assistance cover?\""
    )]
    Retrieve {
        #[command(flatten)]
        select: Select,
        /// The demo user, e.g. john-regular or sarah-platinum.
        #[arg(long)]
        user: String,
        /// The question, e.g. "What is the deductible for auto insurance?"
        query: String,
    },
    /// Sign in as a demo user and ask the tutorial's agent on AgentCore Runtime: the Cognito
    /// access token goes as a bearer token to the runtime's invocation URL; the answer streams
    /// to stdout.
    #[command(
        after_help = "Examples:\n  cargo xtask invoke -t 2 --user mike-broker-a \"Show me all claims\"\n  cargo xtask invoke -t 1 --user john-regular \"What is my deductible?\""
    )]
    Invoke {
        #[command(flatten)]
        select: Select,
        /// The demo user, e.g. mike-broker-a or john-regular.
        #[arg(long)]
        user: String,
        /// The question, e.g. "Show me all claims".
        prompt: String,
    },
    /// Prove the isolation claims against the deployed environment: each demo user gets
    /// exactly their own data (the reference article's tables), prompt injections that try to
    /// switch tier or tenant change nothing, forged, expired, foreign or missing tokens are
    /// turned away, and ambiguous requests (two Authorization headers, a forged token straight
    /// to the agent's port, an oversized payload) are never answered. Exit code 1 on any
    /// violation.
    #[command(
        after_help = "Examples:\n  cargo xtask verify                        # every deployed agent\n  cargo xtask verify -t 2 --output-format json"
    )]
    Verify(Select),
    /// Serve tutorial 3's web page on 127.0.0.1 (against --target local or aws) until Ctrl-C:
    /// sign in as a demo user, or with a username and password, and talk to both agents; a
    /// side-by-side view asks two users the same question. Builds the page on first use (npm,
    /// from web/package-lock.json), then reuses the build until web/ changes.
    #[command(
        after_help = "Examples:\n  cargo xtask demo                          # http://127.0.0.1:8400/\n  cargo xtask demo --port 0                 # any free port\n  cargo xtask demo --build-only"
    )]
    Demo {
        /// Which tutorial's agents the page talks to.
        #[arg(long, short, default_value = "3")]
        tutorial: String,
        /// Port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 8400)]
        port: u16,
        /// Only build the page (installing its npm dependencies from the lockfile if needed),
        /// print where it is, and exit; no cloud is needed.
        #[arg(long)]
        build_only: bool,
    },
    /// Build the agents' code packages (deterministic zips with vendored dependencies) without
    /// deploying; prints path, size and digest of each.
    #[command(
        after_help = "Examples:\n  cargo xtask package -t 2                  # for AWS (manylinux aarch64)\n  cargo xtask package --for local"
    )]
    Package {
        #[command(flatten)]
        select: Select,
        /// The platform to build for: aws (manylinux2014 aarch64 wheels, as AgentCore Runtime
        /// runs the code) or local (this machine's Python, as the local runtime host runs it).
        #[arg(
            long = "for",
            value_enum,
            default_value = "aws",
            hide_possible_values = true
        )]
        platform: TargetKind,
    },
    /// Manage the local cloud (ministack, moto, the RDS Data API over PostgreSQL; 127.0.0.1) by hand.
    #[command(
        after_help = "Examples:\n  cargo xtask local up\n  cargo xtask local status\n  cargo xtask local down"
    )]
    Local {
        #[command(subcommand)]
        action: LocalAction,
    },
    /// Print the IAM policy the deploying identity (a CI role, a person) needs for --env, or for
    /// every environment with --any-env: each API call deploy, destroy and verify make, the
    /// tagging at creation, passing the roles to Bedrock and AgentCore, and the service-linked
    /// roles AWS creates on first use. Names we choose (roles, buckets, secrets) are scoped to
    /// the environment's prefix.
    #[command(
        after_help = "Examples:\n  cargo xtask permissions --env pr-42 > policy.json\n  cargo xtask permissions -t 1 --env pr-42   # only what tutorial 1 needs\n  cargo xtask permissions --any-env         # for a CI role that deploys every pull request"
    )]
    Permissions {
        /// For every environment of this project (agentcore-mt-*), e.g. for a CI role.
        #[arg(long)]
        any_env: bool,
        /// Only what this tutorial (with those it builds on) needs: its number or stack name.
        /// Without it: every tutorial.
        #[arg(long, short)]
        tutorial: Option<String>,
    },
    /// Turn the JSON output of deploy, plan, destroy, verify and cost runs (files, or stdin; one
    /// run after another) into a Markdown summary: changes, failures, verify cases that did not
    /// pass, time, idle cost. For a CI job summary or a pull-request comment.
    #[command(
        after_help = "Examples:\n  cargo xtask deploy --env pr-42 --output-format json > deploy.ndjson\n  cargo xtask verify --env pr-42 --output-format json > verify.ndjson\n  cargo xtask cost   --env pr-42 --output-format json > cost.ndjson\n  cargo xtask report deploy.ndjson verify.ndjson cost.ndjson >> \"$GITHUB_STEP_SUMMARY\""
    )]
    Report {
        /// NDJSON files (`--output-format json` of the commands); none: stdin.
        files: Vec<PathBuf>,
    },
    /// Break the lock of --env: for a run that was killed and whose lease has not expired yet
    /// (leases expire by themselves a minute after their holder stops renewing them). Says
    /// whose it was.
    #[command(
        after_help = "Examples:\n  cargo xtask unlock --env pr-42\n  cargo xtask unlock --env pr-42 --target aws"
    )]
    Unlock,
    /// Remove leaked environments: finds every environment by its ownership tags (the tagging
    /// API, and IAM roles, which it does not cover), and destroys each one that is due, whole:
    /// its expiry (deploy --ttl) has passed, or, without one, its youngest resource is older
    /// than --older-than. Never touches a resource without our tags, a younger environment, or
    /// one whose lock another run holds.
    #[command(
        after_help = "Examples:\n  cargo xtask gc --older-than 6h --prefix pr- --dry-run\n  cargo xtask gc --older-than 6h --prefix pr- --target aws --output-format json"
    )]
    Gc(crate::gc::GcArgs),
    /// Measure the engine's schedule on a simulated cloud in virtual time.
    #[command(
        after_help = "Examples:\n  cargo xtask bench                         # the schedule in virtual time, 5 runs\n  cargo xtask bench --rls --rows 100000 --tenants 100"
    )]
    Bench(crate::bench::BenchArgs),
}

#[derive(Debug, Args)]
struct Select {
    /// Which tutorial: its number or stack name, as the stack files define them, or all.
    #[arg(long, short, default_value = "all")]
    tutorial: String,
}

#[derive(Debug, Subcommand)]
enum LocalAction {
    /// Install the local cloud's pinned Python packages into its venv, without starting it.
    Install,
    /// Install (once) and start the local cloud; prints its endpoints.
    Up,
    /// Stop the local cloud's processes (by pid). Everything deployed to it is gone.
    Down,
    /// Whether each part of the local cloud runs and answers.
    Status,
}

/// Exit codes: 0 success, 1 a resource failed, 2 bad input (arguments or stack files), 130
/// interrupted.
pub enum Exit {
    Ok,
    Failed,
    Invalid,
    /// Stopped by Ctrl-C (130, as a shell reports SIGINT).
    Interrupted,
    /// Another run holds the environment's lock (3).
    Locked,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits in the workspace")
        .to_path_buf()
}

impl Cli {
    /// Parses the command line; `--tutorial`'s help lists what the stack files define.
    pub fn parse_listing_tutorials() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let dir = std::env::var_os("XTASK_STACKS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("stacks"));
        let mut cmd = Cli::command();
        if let Ok(all) = model::load_all(&dir) {
            let listed: Vec<String> = all.iter().map(|s| s.label()).collect();
            let help = format!(
                "Which tutorial: {}, or all (from the stack files in {})",
                listed.join(", "),
                dir.display()
            );
            let names: Vec<String> = cmd
                .get_subcommands()
                .filter(|c| c.get_arguments().any(|a| a.get_id() == "tutorial"))
                .map(|c| c.get_name().to_string())
                .collect();
            for name in names {
                let help = help.clone();
                cmd = cmd.mut_subcommand(name, |c| c.mut_arg("tutorial", |a| a.help(help)));
            }
        }
        Cli::from_arg_matches(&cmd.get_matches()).unwrap_or_else(|e| e.exit())
    }
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Deploy { .. } => "deploy",
            Command::Unlock => "unlock",
            Command::Gc(_) => "gc",
            Command::Plan(_) => "plan",
            Command::Status(_) => "status",
            Command::Cost(_) => "cost",
            Command::Destroy { .. } => "destroy",
            Command::Validate(_) => "validate",
            Command::Retrieve { .. } => "retrieve",
            Command::Invoke { .. } => "invoke",
            Command::Verify(_) => "verify",
            Command::Demo { .. } => "demo",
            Command::Package { .. } => "package",
            Command::Local { .. } => "local",
            Command::Permissions { .. } => "permissions",
            Command::Report { .. } => "report",
            Command::Bench(_) => "bench",
        }
    }
}

/// Runs the command. Every path ends, in JSON mode, with a summary event (after an error event
/// where it failed), so that a machine reading stdout always learns how the run ended.
pub async fn run(cli: Cli) -> Exit {
    let mut out = Output::new(cli.global.output_format, cli.global.verbose);
    let exit = match execute(&cli, &mut out).await {
        Ok(exit) => exit,
        Err(e) => {
            out.error("failed", &format!("{e:#}"));
            Exit::Failed
        }
    };
    if !out.summarized() {
        out.json(json!({
            "type": "summary",
            "command": cli.command.name(),
            "env": cli.global.env,
            "ok": matches!(exit, Exit::Ok),
            "exit_code": exit.code(),
        }));
    }
    exit
}

impl Exit {
    /// How a run that did its work ended: interrupted (Ctrl-C) before failed before ok.
    pub fn of(ok: bool, interrupted: bool) -> Exit {
        if interrupted {
            Exit::Interrupted
        } else if ok {
            Exit::Ok
        } else {
            Exit::Failed
        }
    }

    pub fn code(&self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Invalid => 2,
            Exit::Locked => 3,
            Exit::Interrupted => 130,
        }
    }
}

async fn execute(cli: &Cli, out: &mut Output) -> Result<Exit> {
    let g = &cli.global;
    let root = root();
    let state_dir = g.state_dir.clone().unwrap_or_else(|| root.join(".xtask"));
    let paths = local::Paths::new(&state_dir);
    let select = match &cli.command {
        Command::Local { action } => return local_command(action, &paths, out),
        Command::Report { files } => return report(files, out),
        Command::Bench(args) => {
            return crate::bench::run(args, &root, &paths, &state_dir, out).await
        }
        Command::Permissions { any_env, tutorial } => {
            if !any_env {
                if let Err(m) = model::names::check_env_name(&g.env) {
                    out.error("invalid_env", &format!("--env: {m}"));
                    return Ok(Exit::Invalid);
                }
            }
            let scope: Option<crate::permissions::Scope> = match tutorial {
                None => None,
                Some(t) => {
                    let dir = g.stacks_dir.clone().unwrap_or_else(|| root.join("stacks"));
                    let all = match model::load_all(&dir) {
                        Ok(all) => all,
                        Err(e) => {
                            out.error(
                                "invalid_stack",
                                &format!("the stack files are invalid\n{e}"),
                            );
                            return Ok(Exit::Invalid);
                        }
                    };
                    let selected = match model::select(&all, t) {
                        Ok(s) => s,
                        Err(m) => {
                            out.error("unknown_tutorial", &m);
                            return Ok(Exit::Invalid);
                        }
                    };
                    let kinds = |stacks: &[&Stack]| -> Vec<&'static str> {
                        stacks
                            .iter()
                            .flat_map(|s| s.resources.iter().map(|r| r.kind.kind))
                            .collect()
                    };
                    // Destroy reads the tutorials built on the selection (to refuse while one
                    // is deployed), with what they build on: read-only actions for those.
                    let dependents = model::dependents(&all, &selected);
                    Some(crate::permissions::Scope {
                        full: kinds(&model::with_required(&all, &selected)),
                        read: kinds(&model::with_required(&all, &dependents)),
                    })
                }
            };
            let policy =
                crate::permissions::policy((!any_env).then_some(g.env.as_str()), scope.as_ref());
            if out.format == Format::Human {
                println!("{}", serde_json::to_string_pretty(&policy)?);
            }
            out.json(
                json!({"type": "policy", "env": (!any_env).then_some(&g.env), "document": policy}),
            );
            return Ok(Exit::Ok);
        }
        Command::Deploy { select: s, .. }
        | Command::Plan(s)
        | Command::Status(s)
        | Command::Cost(s)
        | Command::Destroy { select: s, .. }
        | Command::Validate(s)
        | Command::Verify(s)
        | Command::Retrieve { select: s, .. }
        | Command::Invoke { select: s, .. }
        | Command::Package { select: s, .. } => s,
        Command::Demo { tutorial, .. } => &Select {
            tutorial: tutorial.clone(),
        },
        Command::Unlock | Command::Gc(_) => &Select {
            tutorial: "all".into(),
        },
    };
    let command = cli.command.name();
    if let Err(m) = model::names::check_env_name(&g.env) {
        out.error("invalid_env", &format!("--env: {m}"));
        return Ok(Exit::Invalid);
    }
    let stacks_dir = g.stacks_dir.clone().unwrap_or_else(|| root.join("stacks"));
    let all = match model::load_all(&stacks_dir) {
        Ok(s) => s,
        Err(e) => {
            out.warn(&format!(
                "error: the stack files are invalid; nothing was changed\n{e}"
            ));
            out.json(json!({"type": "error", "kind": "invalid_stack", "message": "the stack files are invalid; nothing was changed", "diagnostics": e.0.iter().map(|d| json!({"file": d.file, "line": d.line, "message": d.message, "hint": d.hint})).collect::<Vec<_>>()}));
            return Ok(Exit::Invalid);
        }
    };
    let mut stacks = match model::select(&all, &select.tutorial) {
        Ok(s) => s,
        Err(m) => {
            out.error("unknown_tutorial", &m);
            return Ok(Exit::Invalid);
        }
    };
    // A tutorial that builds on others (3 on 1 and 2) is deployed and planned with them; the
    // other commands only read them, for the attributes that name what it made inside them.
    let closure = model::with_required(&all, &stacks);
    if ["deploy", "plan"].contains(&command) && closure.len() > stacks.len() {
        let added: Vec<String> = closure
            .iter()
            .filter(|s| !stacks.iter().any(|x| x.name == s.name))
            .map(|s| s.label())
            .collect();
        out.warn(&format!(
            "{command} includes tutorial {}, which the selection builds on (what is converged stays as it is)",
            added.join(", ")
        ));
        stacks = closure.clone();
    }
    let context: Vec<&Stack> = closure
        .iter()
        .filter(|s| !stacks.iter().any(|x| x.name == s.name))
        .copied()
        .collect();
    if let Err(e) = model::check_files(&stacks, &root) {
        out.error(
            "invalid_files",
            &format!("the files the stacks name are invalid; nothing was changed\n{e}"),
        );
        return Ok(Exit::Invalid);
    }
    if let Command::Package { platform, .. } = &cli.command {
        return package(&stacks, &root, &paths, *platform, out);
    }
    if command == "validate" {
        for s in &stacks {
            out.say(&format!(
                "✓ {}: tutorial {} `{}`, {} ({} resources) is valid",
                s.file.display(),
                s.tutorial,
                s.name,
                s.description,
                s.resources.len()
            ));
            out.json(json!({"type": "stack", "stack": s.name, "file": s.file, "resources": s.resources.len(), "valid": true}));
        }
        return Ok(Exit::Ok);
    }

    if let Command::Demo {
        build_only: true, ..
    } = &cli.command
    {
        let dist = crate::web::bundle(&root, &state_dir, &|m| out.warn(m))?;
        let bytes: u64 = crate::web::sizes(&dist).values().sum();
        out.say(&format!(
            "✓ the demo page: {} ({} KiB)",
            dist.display(),
            bytes / 1024
        ));
        out.json(json!({"type": "page", "path": dist, "bytes": bytes, "by_extension": crate::web::sizes(&dist)}));
        return Ok(Exit::Ok);
    }
    let started = Instant::now();
    let clients = connect(g, &paths, out, root.clone()).await?;
    let stop = engine::Stop::default();
    if ["deploy", "destroy", "gc"].contains(&command) {
        watch_interrupts(stop.clone(), out.clone());
    }
    let engine = Arc::new(Engine {
        kinds: crate::kinds::registry(&clients),
        env: g.env.clone(),
        account: clients.account.clone(),
        reporter: Arc::new(out.clone()),
        backoff: engine::Backoff::default(),
        stop: stop.clone(),
    });
    if let Command::Retrieve { user, query, .. } = &cli.command {
        return retrieve(&engine, &closure, &all, &clients, out, user, query).await;
    }
    if let Command::Invoke { user, prompt, .. } = &cli.command {
        return invoke(&engine, &stacks, &closure, &clients, out, user, prompt).await;
    }
    if let Command::Demo { port, .. } = &cli.command {
        return demo(
            &engine, &stacks, &closure, &clients, out, g, &state_dir, *port,
        )
        .await;
    }
    if command == "cost" {
        return cost(&engine, &stacks, &context, out).await;
    }
    if command == "unlock" {
        return unlock(&clients, &g.env, out).await;
    }
    if let Command::Gc(args) = &cli.command {
        let ask = needs_confirmation(g);
        return crate::gc::run(args, &all, &engine, &clients, g.lock_timeout, ask, out).await;
    }
    if let Command::Deploy { ttl: Some(ttl), .. } = &cli.command {
        model::names::set_expiry(*ttl);
    }
    let lock = if ["deploy", "destroy"].contains(&command) {
        match take_lock(&clients, &g.env, command, g.lock_timeout, &stop, out).await {
            Ok(held) => Some(held),
            Err(exit) => return Ok(exit),
        }
    } else {
        None
    };
    let lock_info = lock.as_ref().map(|h| {
        json!({"waited_seconds": (h.waited.as_secs_f64() * 10.0).round() / 10.0,
               "took_over_from": h.took_over.as_ref().map(|l| &l.holder)})
    });
    let result: Result<Exit> = async {
        if command == "verify" {
            return verify(&engine, &stacks, &closure, &clients, out, g, &paths).await;
        }
        let outcomes = match command {
            "deploy" => {
                if needs_confirmation(g) {
                    confirm_changes(&engine, command, &stacks, out).await?;
                }
                engine.deploy(&stacks).await
            }
            "destroy" => {
                if let Some(exit) = refuse_if_built_on(&engine, &all, &stacks, out).await {
                    return Ok(exit);
                }
                if needs_confirmation(g) {
                    confirm_changes(&engine, command, &stacks, out).await?;
                }
                engine.destroy(&stacks, &context).await
            }
            "plan" => {
                out.status_word = "planned";
                let planned = engine.plan(&stacks).await;
                for o in &planned {
                    out.resource_line(o, Tense::Planned);
                    out.json(outcome_event(o, "planned"));
                }
                planned
            }
            _ => return status(&engine, &stacks, &context, out, &clients).await,
        };
        if let Command::Destroy { orphans: true, .. } = &cli.command {
            let names: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
            match cloud::tagged::every_environment(&clients, Some(&g.env)).await {
                Ok(found) => {
                    let everything = stacks.len() + context.len() == all.len();
                    let undeclared = crate::orphans::undeclared(&found, &all, &names, everything);
                    crate::orphans::delete(&undeclared, &engine.kinds, &stop, out).await;
                }
                Err(e) => out.warn(&format!("error: could not look for orphans: {e:#}")),
            }
        }
        // Resources removed from a stack file are invisible to deploy and destroy: find them by tag.
        let orphans = if command == "plan" || command == "destroy" {
            report_orphans(out, &clients, &g.env, &stacks, command == "destroy").await
        } else {
            0
        };
        let ok = outcomes.iter().all(Outcome::ok);
        if command == "deploy" || (command == "destroy" && ok) {
            save_outputs(&outcomes, &stacks, &state_dir, &g.env, g.target);
        }
        let interrupted = stop.is_set();
        if interrupted {
            let n = crate::cloud::data_api::roll_back_open(&clients).await;
            if n > 0 {
                out.warn(&format!(
                    "rolled back {n} open SQL transaction(s) of this run"
                ));
            }
        }
        let (read, mutating) = clients.calls.snapshot();
        let counts = engine::count_actions(&outcomes);
        out.json(json!({
            "type": "summary",
            "command": command,
            "env": g.env,
            "target": g.target,
            "ok": ok,
            "interrupted": interrupted,
            "counts": counts,
            "api_calls": {"mutating": mutating, "read": read},
            "orphans": orphans,
            "lock": lock_info.map(|mut l| {
                let (read, mutating) = clients.lock_calls.snapshot();
                l["api_calls"] = json!({"mutating": mutating, "read": read});
                l
            }),
            "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        }));
        let summary: Vec<String> = counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        if ok && command != "destroy" && counts["noop"] == outcomes.len() {
            out.say(&format!(
                "No changes: {} resources are as the stack files say.",
                outcomes.len()
            ));
        }
        out.say(&format!(
            "{} {command} of env `{}` on {}{}: {} ({} mutating and {} read API calls, {:.1}s)",
            if ok { "✓" } else { "✗" },
            g.env,
            if g.target == TargetKind::Local {
                "the local cloud"
            } else {
                "AWS"
            },
            if interrupted { " (interrupted)" } else { "" },
            if summary.is_empty() {
                "nothing".to_string()
            } else {
                summary.join(", ")
            },
            mutating,
            read,
            started.elapsed().as_secs_f64()
        ));
        let not_started = format!("{}: not started", engine::INTERRUPTED);
        for o in outcomes
            .iter()
            .filter(|o| !o.ok() && o.error.as_deref() != Some(&not_started))
        {
            out.warn(&format!(
                "error: {}/{}: {}",
                o.stack,
                o.id,
                o.error.as_deref().unwrap_or_default()
            ));
        }
        let waiting = outcomes
            .iter()
            .filter(|o| o.error.as_deref() == Some(&not_started))
            .count();
        if waiting > 0 {
            out.warn(&format!(
            "{waiting} resource(s) were not started: run `cargo xtask {command}` again to go on"
        ));
        }
        Ok(Exit::of(ok, interrupted))
    }
    .await;
    let Some(held) = lock else { return result };
    let lost = held.lost.is_set();
    let lock_bucket = held.locks().clone();
    held.release().await;
    if lost {
        out.warn(&format!(
            "error: the lock of env `{}` was broken or taken over by another run while this one ran: it stopped; check what that run did, then run `cargo xtask {command}` again",
            g.env
        ));
        return Ok(Exit::Failed);
    }
    // After a destroy; or when this run made the bucket and then changed nothing (a deploy
    // declined at the question, or stopped by an invalid plan): no bucket is left behind.
    let (_, changed) = clients.calls.snapshot();
    if command == "destroy" || (lock_bucket.made_bucket() && changed == 0) {
        lock_bucket.remove_bucket_if_empty().await;
    }
    result
}

/// Takes the environment's lock for `command`, waiting up to `timeout`; the exit code when it
/// cannot (3: held by another run, named in the error).
async fn take_lock(
    clients: &Clients,
    env: &str,
    command: &str,
    timeout: std::time::Duration,
    stop: &engine::Stop,
    out: &Output,
) -> std::result::Result<lock::Held, Exit> {
    let locks = lock::Locks::new(clients);
    let holder = lock::Holder::this_process(command);
    let waiting = |l: &lock::Lease| {
        out.warn(&format!(
            "waiting up to {} for the lock of env `{env}`: held by {} since {} (lease until {})",
            humantime::format_duration(timeout),
            l.holder,
            l.acquired_at,
            l.expires_at
        ))
    };
    match locks.acquire(env, &holder, timeout, stop, &waiting).await {
        Ok(held) => {
            if let Some(old) = &held.took_over {
                out.warn(&format!(
                    "took over the expired lock of env `{env}` from {} (last renewed {})",
                    old.holder, old.renewed_at
                ));
            }
            Ok(held)
        }
        Err(lock::LockError::Held { env, lease }) => {
            let message = format!(
                "{}; nothing was changed\n  hint: wait for it (--lock-timeout 10m); if that run is gone, its lease expires by itself {}s after its last renewal, or break it now: cargo xtask unlock --env {env}",
                lock::LockError::Held { env: env.clone(), lease: lease.clone() },
                lease.lease_seconds
            );
            out.warn(&format!("error: {message}"));
            out.json(json!({"type": "error", "kind": "locked", "message": message, "holder": lease.holder, "acquired_at": lease.acquired_at, "expires_at": lease.expires_at}));
            Err(Exit::Locked)
        }
        Err(e @ lock::LockError::Interrupted(_)) => {
            out.error("interrupted", &e.to_string());
            Err(Exit::Interrupted)
        }
        Err(e) => {
            out.error("failed", &e.to_string());
            Err(Exit::Failed)
        }
    }
}

/// `cargo xtask unlock`: breaks the environment's lease, saying whose it was.
async fn unlock(clients: &Clients, env: &str, out: &Output) -> Result<Exit> {
    let locks = lock::Locks::new(clients);
    match locks.break_lease(env).await.map_err(anyhow::Error::msg)? {
        Some(lease) => {
            out.say(&format!(
                "✓ broke the lock of env `{env}`: it was held by {} since {} (last renewed {}, lease until {}); if that run still goes, it stops at its next renewal",
                lease.holder, lease.acquired_at, lease.renewed_at, lease.expires_at
            ));
            out.json(json!({"type": "unlock", "env": env, "was_locked": true, "holder": lease.holder, "acquired_at": lease.acquired_at, "renewed_at": lease.renewed_at, "expires_at": lease.expires_at}));
        }
        None => {
            out.say(&format!("✓ env `{env}` is not locked: nothing to do"));
            out.json(json!({"type": "unlock", "env": env, "was_locked": false}));
        }
    }
    Ok(Exit::Ok)
}

/// On the first Ctrl-C: say so and set `stop` (nothing new starts; calls in flight get a
/// bounded time; the run then ends with its summary and exit code 130). On the second: exit
/// at once.
fn watch_interrupts(stop: engine::Stop, out: Output) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        out.warn(&format!(
            "interrupted: starting nothing new; calls in flight get up to {}s to finish, then open SQL transactions are rolled back (Ctrl-C again stops at once)",
            engine::GRACE.as_secs()
        ));
        stop.set();
        if tokio::signal::ctrl_c().await.is_ok() {
            out.warn("stopped at once: run the command again to go on from where it was");
            std::process::exit(130);
        }
    });
}

/// Connects to the target: starts the local cloud if needed, or shows the AWS account and
/// asks before a change.
async fn connect(g: &Global, paths: &local::Paths, out: &Output, root: PathBuf) -> Result<Clients> {
    let sdk = match g.target {
        TargetKind::Local => {
            let spin = out.spinner("starting the local cloud");
            let endpoints = local::up(paths, &|m| spin.set_message(m.to_string()))?;
            spin.finish_and_clear();
            let sdk = cloud::sdk_config(TargetKind::Local, Some(&endpoints.ministack)).await;
            let local = cloud::LocalEndpoints {
                rds_data: Some(endpoints.data_api.clone()),
                s3vectors: Some(endpoints.moto.clone()),
                runtime_host: Some(endpoints.runtime_host.clone()),
            };
            (sdk, Some(local))
        }
        TargetKind::Aws => (cloud::sdk_config(TargetKind::Aws, None).await, None),
    };
    let (sdk, local) = sdk;
    let packager = crate::packaging::Packager::new(paths);
    let spin = (g.target == TargetKind::Aws).then(|| {
        let what = format!(
            "connecting to AWS (region {})",
            sdk.region().map(|r| r.to_string()).unwrap_or_default()
        );
        if !out.tty() {
            out.say(&format!("{what} …"));
        }
        out.spinner(&what)
    });
    let clients = Clients::new(g.target, &sdk, local.as_ref(), root, packager).await;
    if let Some(spin) = spin {
        spin.finish_and_clear();
    }
    let clients = clients?;
    if g.target == TargetKind::Aws {
        out.warn(&format!(
            "AWS account {} in region {}, environment `{}`",
            clients.account, clients.region, g.env
        ));
    }
    Ok(clients)
}

/// Whether a change to `target` needs a person's yes: on AWS, unless --yes or CI=true.
fn needs_confirmation(g: &Global) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    g.target == TargetKind::Aws && !g.yes && !ci
}

/// Shows what `command` would change (the plan, or what destroy would delete), then asks.
/// Nothing to change: no question. Errors end the run before anything was changed.
async fn confirm_changes(
    engine: &Arc<Engine>,
    command: &str,
    stacks: &[&Stack],
    out: &Output,
) -> Result<()> {
    let planned: Vec<Outcome> = if command == "destroy" {
        engine
            .observed_outputs(stacks)
            .await
            .into_iter()
            .filter(|(.., state)| !matches!(state, Ok(None)))
            .map(|(stack, id, kind, physical_name, state)| Outcome {
                stack,
                id,
                kind,
                physical_name,
                action: engine::Action::Delete,
                error: state.err(),
                changes: Vec::new(),
                note: None,
                seconds: 0.0,
                outputs: None,
            })
            .collect()
    } else {
        engine.plan(stacks).await
    };
    for o in &planned {
        out.resource_line(o, Tense::Planned);
    }
    if let Some(failed) = planned.iter().find(|o| !o.ok()) {
        bail!(
            "the plan has errors ({}/{}: {}); nothing was changed",
            failed.stack,
            failed.id,
            failed.error.as_deref().unwrap_or_default()
        );
    }
    let counts = engine::count_actions(&planned);
    if planned.iter().all(|o| o.action == engine::Action::Noop) {
        return Ok(());
    }
    let summary: Vec<String> = ["create", "update", "replace", "delete"]
        .iter()
        .filter(|k| counts[**k] > 0)
        .map(|k| format!("{} to {k}", counts[*k]))
        .collect();
    ask(&format!("{} planned above", summary.join(", ")))
}

/// Asks a person before an AWS account changes (`what`: what is planned, listed above); an
/// error without a terminal or without a yes.
pub fn ask(what: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to change an AWS account without confirmation ({what})\n  hint: pass --yes (CI=true implies it)"
        );
    }
    eprint!("{what}. Continue? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("stopped: nothing was changed");
    }
    Ok(())
}

/// Destroying a tutorial that a deployed one builds on would leave that one broken: refused,
/// saying what to destroy first. `None`: nothing deployed builds on `stacks`.
async fn refuse_if_built_on(
    engine: &Arc<Engine>,
    all: &[Stack],
    stacks: &[&Stack],
    out: &Output,
) -> Option<Exit> {
    let dependents = model::dependents(all, stacks);
    if dependents.is_empty() {
        return None;
    }
    let everything = model::with_required(all, &dependents);
    let found = engine.observed_outputs(&everything).await;
    let deployed: Vec<&Stack> = dependents
        .into_iter()
        .filter(|d| {
            found
                .iter()
                .any(|(stack, _, _, _, state)| stack == &d.name && matches!(state, Ok(Some(_))))
        })
        .collect();
    let [first, ..] = deployed.as_slice() else {
        return None;
    };
    let names: Vec<String> = deployed.iter().map(|d| d.label()).collect();
    let message = format!(
        "tutorial {} builds on what you asked to destroy and is deployed; nothing was changed\n  hint: destroy it first (cargo xtask destroy --tutorial {}), or everything (--tutorial all)",
        names.join(", "),
        first.tutorial
    );
    out.warn(&format!("error: {message}"));
    out.json(json!({"type": "error", "kind": "built_on", "message": message, "dependents": deployed.iter().map(|d| &d.name).collect::<Vec<_>>()}));
    Some(Exit::Invalid)
}

/// What exists of `stacks`, with its outputs (`context`: the stacks they build on, read for
/// their attributes only). Read-only.
async fn status(
    engine: &Arc<Engine>,
    stacks: &[&Stack],
    context: &[&Stack],
    out: &Output,
    clients: &Clients,
) -> Result<Exit> {
    let everything: Vec<&Stack> = context.iter().chain(stacks).copied().collect();
    let found = engine.observed_outputs(&everything).await;
    let mut rows = Vec::new();
    let (mut deployed, mut missing, mut failed) = (0, 0, 0);
    for (stack, id, kind, name, state) in found
        .iter()
        .filter(|(stack, ..)| stacks.iter().any(|s| &s.name == stack))
    {
        let mut event = json!({"type": "resource", "stack": stack, "id": id, "kind": kind, "physical_name": name});
        let (word, outputs) = match state {
            Ok(Some(outputs)) => {
                deployed += 1;
                event["exists"] = json!(true);
                event["outputs"] = json!(outputs);
                ("deployed".to_string(), Some(outputs))
            }
            Ok(None) => {
                missing += 1;
                event["exists"] = json!(false);
                ("not deployed".to_string(), None)
            }
            Err(e) => {
                failed += 1;
                event["error"] = json!(e);
                (format!("error: {e}"), None)
            }
        };
        out.json(event);
        let name = if name.is_empty() {
            "(named once its parent exists)".to_string()
        } else {
            name.clone()
        };
        rows.push(([format!("{stack}/{id}"), kind.clone(), name, word], outputs));
    }
    // A table on stdout (so that `status | grep` and `status 2>/dev/null` work), totals last.
    if out.format == Format::Human {
        let mut widths = [8, 4, 4, 5];
        for (cells, _) in &rows {
            for (w, c) in widths.iter_mut().zip(cells) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: [&str; 4]| {
            format!(
                "{:<a$}  {:<b$}  {:<c$}  {}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                a = widths[0],
                b = widths[1],
                c = widths[2]
            )
            .trim_end()
            .to_string()
        };
        println!("{}", line(["RESOURCE", "KIND", "NAME", "STATE"]));
        for (cells, outputs) in &rows {
            println!("{}", line([&cells[0], &cells[1], &cells[2], &cells[3]]));
            if let (true, Some(outputs)) = (out.verbose, outputs) {
                for (k, v) in outputs.iter() {
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    println!("    {k}: {v}");
                }
            }
        }
        println!(
            "{} resources: {deployed} deployed, {missing} not deployed, {failed} failed{}",
            rows.len(),
            if out.verbose {
                ""
            } else {
                " (-v shows their outputs)"
            }
        );
    }
    let ok = failed == 0;
    let (read, mutating) = clients.calls.snapshot();
    out.json(json!({"type": "summary", "command": "status", "ok": ok, "api_calls": {"mutating": mutating, "read": read}}));
    Ok(if ok { Exit::Ok } else { Exit::Failed })
}

/// `cost`: the idle monthly cost of what is deployed of `stacks`. Read-only.
async fn cost(
    engine: &Arc<Engine>,
    stacks: &[&Stack],
    context: &[&Stack],
    out: &Output,
) -> Result<Exit> {
    let everything: Vec<&Stack> = context.iter().chain(stacks).copied().collect();
    let found = engine.observed_outputs(&everything).await;
    let mut failed = 0;
    let mut deployed = Vec::new();
    for (stack, id, kind, name, state) in found
        .into_iter()
        .filter(|(stack, ..)| stacks.iter().any(|s| &s.name == stack))
    {
        match state {
            Ok(Some(_)) => deployed.push((stack, id, kind, name)),
            Ok(None) => {}
            Err(e) => {
                failed += 1;
                out.warn(&format!("✗ {stack}/{id} ({kind}): {e}"));
            }
        }
    }
    let table = crate::cost::table();
    let (lines, total) = crate::cost::estimate(&table, &deployed);
    for l in &lines {
        let mut event = json!({"type": "cost"});
        event.as_object_mut().expect("an object").extend(
            serde_json::to_value(l)?
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        out.json(event);
    }
    if out.format == Format::Human {
        let width = lines
            .iter()
            .map(|l| l.stack.len() + l.id.len() + 1)
            .max()
            .unwrap_or(8)
            .max(8);
        println!("{:<width$}  {:>9}  BASIS", "RESOURCE", "$/MONTH");
        for l in &lines {
            println!(
                "{:<width$}  {:>9.3}  {}",
                format!("{}/{}", l.stack, l.id),
                l.monthly_usd,
                l.basis
            );
        }
        println!(
            "{} deployed resources: ${total:.2} per month while idle ({} prices of {}; usage is billed on top)",
            lines.len(),
            table.region,
            table.checked
        );
    }
    out.json(json!({
        "type": "summary",
        "command": "cost",
        "ok": failed == 0,
        "resources": lines.len(),
        "monthly_usd": (total * 1000.0).round() / 1000.0,
        "prices": {"region": table.region, "checked": table.checked},
    }));
    Ok(if failed == 0 { Exit::Ok } else { Exit::Failed })
}

/// `report`: the Markdown summary of NDJSON runs, on stdout. A line that is not JSON is
/// invalid input, named by file and line.
fn report(files: &[PathBuf], out: &Output) -> Result<Exit> {
    let inputs: Vec<(String, String)> = if files.is_empty() {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        vec![("stdin".into(), text)]
    } else {
        files
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .map(|t| (f.display().to_string(), t))
                    .with_context(|| format!("cannot read {}", f.display()))
            })
            .collect::<Result<_>>()?
    };
    let mut events = Vec::new();
    for (name, text) in &inputs {
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(e) => events.push(e),
                Err(e) => {
                    out.error(
                        "invalid_input",
                        &format!("{name}:{}: not a JSON event ({e})\n  hint: give the output of a command run with --output-format json", i + 1),
                    );
                    return Ok(Exit::Invalid);
                }
            }
        }
    }
    print!("{}", crate::report::markdown(&events));
    Ok(Exit::Ok)
}

/// What is deployed of `stacks`, by (stack, logical id).
async fn deployed(engine: &Arc<Engine>, stacks: &[&Stack]) -> crate::agents::Deployed {
    let found = engine.observed_outputs(stacks).await;
    crate::agents::Deployed(
        found
            .into_iter()
            .filter_map(|(stack, id, _, _, state)| match state {
                Ok(Some(o)) => Some(((stack, id), o)),
                _ => None,
            })
            .collect(),
    )
}

/// The deployed agents of `stacks` (`known`: those stacks and what they build on).
async fn deployed_agents(
    engine: &Arc<Engine>,
    stacks: &[&Stack],
    known: &[&Stack],
) -> Result<Vec<crate::agents::Agent>> {
    let found = deployed(engine, known).await;
    crate::agents::Agent::all(stacks, known, &found)
}

/// `invoke`: one question to one tutorial's agent, as a demo user. Where several selected agents
/// serve the user (tutorial 2's and tutorial 3's claims agents), the earliest tutorial's answers.
async fn invoke(
    engine: &Arc<Engine>,
    stacks: &[&Stack],
    known: &[&Stack],
    clients: &Clients,
    out: &Output,
    user: &str,
    prompt: &str,
) -> Result<Exit> {
    if !known.iter().any(|s| users_of(s).iter().any(|u| u == user)) {
        return Ok(unknown_user(out, user, known, "an agent"));
    }
    let agents = deployed_agents(engine, stacks, known).await?;
    let Some(agent) = agents.iter().find(|a| a.users.contains_key(user)) else {
        return Ok(unknown_user(out, user, known, "an agent"));
    };
    let secret = agent
        .users
        .get(user)
        .with_context(|| format!("the password secret of {user} is not deployed"))?;
    let tokens = crate::agents::sign_in(clients, &agent.client_id, user, secret).await?;
    let url = crate::agents::invocation_url(&clients.agentcore_invoke, &agent.arn);
    out.warn(&format!(
        "{user} asks tutorial {}'s agent `{}`: {prompt}",
        agent.tutorial, agent.name
    ));
    let human = out.format == Format::Human;
    let answer = crate::agents::invoke(
        &url,
        Some(&tokens.access),
        &json!({"prompt": prompt}),
        &[],
        |piece| {
            if human {
                use std::io::Write;
                print!("{piece}");
                let _ = std::io::stdout().flush();
            }
        },
    )
    .await?;
    if human && !answer.text.ends_with('\n') {
        println!();
    }
    out.json(json!({"type": "answer", "tutorial": agent.tutorial, "agent": agent.name, "user": user, "prompt": prompt, "status": answer.status, "text": answer.text}));
    if answer.status != 200 {
        out.warn(&format!(
            "✗ the runtime answered HTTP {}: {}",
            answer.status,
            answer.text.trim()
        ));
        return Ok(Exit::Failed);
    }
    Ok(Exit::Ok)
}

/// `verify`: the isolation suite against every selected tutorial that has an agent.
async fn verify(
    engine: &Arc<Engine>,
    stacks: &[&Stack],
    known: &[&Stack],
    clients: &Clients,
    out: &Output,
    g: &Global,
    paths: &local::Paths,
) -> Result<Exit> {
    let started = Instant::now();
    let agents = deployed_agents(engine, stacks, known).await?;
    if agents.is_empty() {
        out.error("no_agent", "no selected tutorial has an agent to verify");
        return Ok(Exit::Invalid);
    }
    let ctx = crate::agents::VerifyContext {
        clients,
        base_url: clients.agentcore_invoke.clone(),
        pool_keys_dir: (g.target == TargetKind::Local)
            .then(|| paths.dir.join("ministack-state/cognito-pool-keys")),
        agents_exposed: g.target == TargetKind::Local,
    };
    let spin = out.spinner("verifying");
    let cases = crate::agents::verify(&ctx, &agents, |c| {
        let mark = match c.outcome {
            "pass" => "✓",
            "fail" => "✗",
            _ => "-",
        };
        let line = format!("{mark} tutorial {} {} {}: {}{}", c.tutorial, c.agent, c.category, c.name, if c.detail.is_empty() { String::new() } else { format!("\n    {}", c.detail) });
        out.say(&line);
        out.json(json!({"type": "case", "tutorial": c.tutorial, "agent": c.agent, "category": c.category, "name": c.name, "outcome": c.outcome, "detail": c.detail}));
    })
    .await;
    spin.finish_and_clear();
    let cases = cases?;
    let count = |o: &str| cases.iter().filter(|c| c.outcome == o).count();
    let (pass, fail, not_run) = (count("pass"), count("fail"), count("not_run"));
    out.say(&format!(
        "{} verify of env `{}` on {}: {pass} passed, {fail} failed, {not_run} not run ({:.1}s)",
        if fail == 0 { "✓" } else { "✗" },
        g.env,
        if g.target == TargetKind::Local {
            "the local cloud"
        } else {
            "AWS"
        },
        started.elapsed().as_secs_f64()
    ));
    out.json(json!({"type": "summary", "command": "verify", "cases": cases.len(), "passed": pass, "failed": fail, "not_run": not_run}));
    Ok(if fail == 0 { Exit::Ok } else { Exit::Failed })
}

/// `demo`: tutorial 3's web page, built if needed, served until Ctrl-C.
#[allow(clippy::too_many_arguments)]
async fn demo(
    engine: &Arc<Engine>,
    stacks: &[&Stack],
    known: &[&Stack],
    clients: &Clients,
    out: &Output,
    g: &Global,
    state_dir: &std::path::Path,
    port: u16,
) -> Result<Exit> {
    let agents = deployed_agents(engine, stacks, known).await?;
    if agents.is_empty() {
        out.error(
            "no_agent",
            "no selected tutorial has an agent\n  hint: cargo xtask demo --tutorial 3",
        );
        return Ok(Exit::Invalid);
    }
    let spin = out.spinner("building the web page");
    let dist = crate::web::bundle(&root(), state_dir, &|m| spin.set_message(m.to_string()));
    spin.finish_and_clear();
    let dist = dist?;
    let bytes: u64 = crate::web::sizes(&dist).values().sum();
    let agents = crate::web::agents(known, agents);
    let env = g.env.clone();
    crate::web::serve(clients.clone(), agents, &g.env, &dist, port, |url| {
        out.warn(&format!(
            "demo of env `{env}` on {}: {url}  (page {} KiB; Ctrl-C stops it)",
            if g.target == TargetKind::Local {
                "the local cloud"
            } else {
                "AWS"
            },
            bytes / 1024
        ));
        out.json(json!({"type": "demo", "url": url, "env": env, "page_bytes": bytes}));
    })
    .await?;
    Ok(Exit::Ok)
}

/// `package`: builds the selected tutorials' agent packages for a platform.
fn package(
    stacks: &[&Stack],
    root: &std::path::Path,
    paths: &local::Paths,
    target: TargetKind,
    out: &Output,
) -> Result<Exit> {
    let packager = crate::packaging::Packager::new(paths);
    let mut any = false;
    for s in stacks {
        for r in s
            .resources
            .iter()
            .filter(|r| r.kind.kind == "agentcore.agent_package")
        {
            any = true;
            let p = &r.properties;
            let strings = |v: &serde_json::Value| -> Vec<std::path::PathBuf> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str())
                    .map(|x| root.join(x))
                    .collect()
            };
            let platform = match target {
                TargetKind::Local => crate::packaging::Platform::Local,
                TargetKind::Aws => crate::packaging::Platform::Aws {
                    python: p["python"].as_str().unwrap_or("3.12").to_string(),
                },
            };
            let spin = out.spinner(&format!("{}/{}: building", s.name, r.id));
            let requirements = root.join(p["requirements"].as_str().unwrap_or_default());
            let built = packager
                .manifest(&strings(&p["sources"]), &requirements, &platform)
                .and_then(|m| packager.build(&m, &platform));
            spin.finish_and_clear();
            let built = built.with_context(|| format!("{}/{}", s.name, r.id))?;
            out.say(&format!(
                "✓ {}/{} for {}: {} ({:.1} MB zipped, {:.1} MB unzipped, {} files, {} native libraries), digest {}",
                s.name,
                r.id,
                match target {
                    TargetKind::Aws => "aws (manylinux aarch64)",
                    TargetKind::Local => "local (this machine)",
                },
                built.path.display(),
                built.size as f64 / 1e6,
                built.unzipped as f64 / 1e6,
                built.files,
                built.native_libraries,
                built.digest
            ));
            out.json(json!({"type": "package", "stack": s.name, "id": r.id, "for": target, "package": built}));
        }
    }
    if !any {
        out.error("no_agent", "the selected tutorials have no agent package");
        return Ok(Exit::Invalid);
    }
    Ok(Exit::Ok)
}

/// The demo users a stack file declares.
fn users_of(s: &Stack) -> Vec<String> {
    s.resources
        .iter()
        .filter(|r| r.kind.kind == "cognito.user")
        .filter_map(|r| r.properties["username"].as_str().map(str::to_string))
        .collect()
}

/// An unknown demo user is invalid input (exit 2); the hint names the users of each tutorial.
fn unknown_user(out: &Output, user: &str, stacks: &[&Stack], what: &str) -> Exit {
    let hint: Vec<String> = stacks
        .iter()
        .filter(|s| !users_of(s).is_empty())
        .map(|s| format!("--tutorial {} for {}", s.tutorial, users_of(s).join(" / ")))
        .collect();
    out.error(
        "unknown_user",
        &format!(
            "no selected tutorial has both {what} and the demo user `{user}`\n  hint: {}",
            if hint.is_empty() {
                "the selected stack files declare no demo users".to_string()
            } else {
                hint.join(", ")
            }
        ),
    );
    Exit::Invalid
}

/// `retrieve`: finds the pool's app client, the user's password secret and the Knowledge Base
/// among the stack's resources, then does what the user would.
#[allow(clippy::too_many_arguments)]
async fn retrieve(
    engine: &Arc<Engine>,
    stacks: &[&Stack],
    every: &[Stack],
    clients: &Clients,
    out: &Output,
    user: &str,
    query: &str,
) -> Result<Exit> {
    // The stacks with a Knowledge Base, and their demo users.
    let with_kb: Vec<&&Stack> = stacks
        .iter()
        .filter(|s| {
            s.resources
                .iter()
                .any(|r| r.kind.kind == "bedrock.knowledge_base")
        })
        .collect();
    let Some(stack) = with_kb
        .iter()
        .find(|s| users_of(s).iter().any(|u| u == user))
    else {
        let hint = match every.iter().find(|s| {
            s.resources
                .iter()
                .any(|r| r.kind.kind == "bedrock.knowledge_base")
        }) {
            Some(s) => format!(
                "retrieve works on tutorial {} (its Knowledge Base), as {}",
                s.tutorial,
                users_of(s).join(" or ")
            ),
            None => "no stack file declares a Knowledge Base".into(),
        };
        out.error(
            "unknown_user",
            &format!("no selected tutorial has both a Knowledge Base and the demo user `{user}`\n  hint: {hint}"),
        );
        return Ok(Exit::Invalid);
    };
    let found = deployed(engine, &[stack]).await;
    // The app client the users sign in with (a stack may declare others, e.g. for verify).
    let (Some(client_id), Some(kb)) = (
        found.get(&stack.name, "app_client", "id"),
        found.of_kind(stack, "bedrock.knowledge_base", "id"),
    ) else {
        bail!(
            "tutorial {}'s app client and Knowledge Base are not deployed\n  hint: cargo xtask deploy --tutorial {} (with the same --env)",
            stack.tutorial,
            stack.tutorial
        );
    };
    let secret_arn = found
        .users(stack)
        .remove(user)
        .context("the demo users' password secret is not deployed")?;
    let token = crate::agents::sign_in(clients, &client_id, user, &secret_arn)
        .await?
        .access;
    let claims = crate::demo::claims(&token)?;
    let tier = crate::demo::tier(&claims)?;
    let results = crate::demo::retrieve(clients, &kb, query, &tier).await?;
    out.say(&format!(
        "{user} (tier {tier}, from the token's cognito:groups) asks: {query}"
    ));
    for r in &results {
        out.say(&format!(
            "\n  [{}] {} (score {})",
            r["tier"].as_str().unwrap_or_default(),
            r["uri"].as_str().unwrap_or_default(),
            r["score"]
        ));
        for line in r["text"]
            .as_str()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(12)
        {
            out.say(&format!("    {line}"));
        }
    }
    if results.is_empty() {
        out.say("  (nothing retrieved)");
    }
    out.json(json!({"type": "retrieval", "user": user, "tier": tier, "query": query, "results": results}));
    // Human mode prints the answer on stdout too, so that it can be piped.
    if out.format == Format::Human {
        if let Some(first) = results.first() {
            println!("{}", first["text"].as_str().unwrap_or_default());
        }
    }
    Ok(Exit::Ok)
}

/// Warns of what carries this environment's tags but is not (or, after a destroy, no longer)
/// accounted for by the selected stacks. Returns how many.
async fn report_orphans(
    out: &Output,
    clients: &Clients,
    env: &str,
    stacks: &[&Stack],
    destroyed: bool,
) -> usize {
    let found = match cloud::tagged::every_environment(clients, Some(env)).await {
        Ok(found) => found,
        Err(e) => {
            out.warn(&format!(
                "note: could not look for resources left outside the stack files: {e}"
            ));
            return 0;
        }
    };
    let mut count = 0;
    for t in found
        .into_iter()
        .filter(|t| stacks.iter().any(|s| s.name == t.stack))
    {
        let declared = stacks
            .iter()
            .any(|s| s.name == t.stack && s.resources.iter().any(|r| r.id == t.logical_id));
        if declared && !destroyed {
            continue;
        }
        count += 1;
        let why = if declared {
            "is still listed after the destroy (on AWS the tagging API can lag deletions by minutes: run status to check)"
        } else {
            "carries this environment's tags but is no longer in the stack file, so deploy and destroy do not touch it: put it back and destroy, or delete it by hand"
        };
        out.warn(&format!("! {}/{} {}: {why}", t.stack, t.logical_id, t.arn));
        out.json(json!({"type": "orphan", "stack": t.stack, "id": t.logical_id, "arn": t.arn, "declared": declared}));
    }
    count
}

/// Caches the (non-secret) outputs of a deploy under the state directory, for people and for
/// scripts; correctness never depends on this file.
/// Keeps `.xtask/outputs/<target>/<env>.json` in step with what is deployed: a deploy writes
/// its stacks' outputs (leaving other stacks' entries), a destroy removes its stacks' entries,
/// and the file goes with the last of them.
fn save_outputs(
    outcomes: &[Outcome],
    stacks: &[&Stack],
    state_dir: &std::path::Path,
    env: &str,
    target: TargetKind,
) {
    let target = if target == TargetKind::Local {
        "local"
    } else {
        "aws"
    };
    let file = state_dir
        .join("outputs")
        .join(target)
        .join(format!("{env}.json"));
    let mut doc: serde_json::Map<String, serde_json::Value> = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for s in stacks {
        doc.remove(&s.name);
    }
    for o in outcomes {
        if let Some(outputs) = &o.outputs {
            let entry = doc.entry(o.stack.clone()).or_insert_with(|| json!({}));
            entry[&o.id] = json!(outputs);
        }
    }
    if doc.is_empty() {
        let _ = std::fs::remove_file(&file);
    } else if std::fs::create_dir_all(file.parent().expect("a directory")).is_ok() {
        let _ = std::fs::write(
            &file,
            serde_json::to_string_pretty(&doc).unwrap_or_default(),
        );
    }
}

fn local_command(action: &LocalAction, paths: &local::Paths, out: &Output) -> Result<Exit> {
    match action {
        LocalAction::Install => {
            let spin = out.spinner("installing the local cloud");
            local::install(paths, &|m| spin.set_message(m.to_string()))?;
            spin.finish_and_clear();
            out.say(&format!(
                "✓ local cloud installed in {}",
                paths.venv.display()
            ));
            out.json(json!({"type": "local", "state": "installed", "venv": paths.venv}));
        }
        LocalAction::Up => {
            let spin = out.spinner("starting the local cloud");
            let e = local::up(paths, &|m| spin.set_message(m.to_string()))
                .context("the local cloud did not start")?;
            spin.finish_and_clear();
            out.say(&format!(
                "✓ local cloud up: AWS APIs at {}, S3 Vectors at {}, RDS Data API at {}, AgentCore Runtime invocations at {}",
                e.ministack, e.moto, e.data_api, e.runtime_host
            ));
            out.json(json!({"type": "local", "state": "up", "endpoints": e}));
        }
        LocalAction::Down => {
            let stopped = local::down(paths)?;
            out.say(if stopped {
                "✓ local cloud stopped"
            } else {
                "✓ the local cloud was not running"
            });
            out.json(json!({"type": "local", "state": "down", "stopped": stopped}));
        }
        LocalAction::Status => match local::running(paths) {
            Some(e) => {
                for (part, ok) in local::health(&e) {
                    out.say(&format!("{} {part}", if ok { "●" } else { "✗" }));
                }
                out.say(&format!(
                    "AWS APIs at {}, S3 Vectors at {}, RDS Data API at {}, AgentCore Runtime invocations at {}",
                    e.ministack, e.moto, e.data_api, e.runtime_host
                ));
                out.json(json!({"type": "local", "state": "up", "endpoints": e}));
            }
            None => {
                out.say("○ the local cloud is not running (`cargo xtask local up` starts it; deploy does too)");
                out.json(json!({"type": "local", "state": "down"}));
                return Ok(Exit::Failed);
            }
        },
    }
    Ok(Exit::Ok)
}
