//! The command line: parses arguments and hands each command to its own module, which loads
//! the stacks, connects to the target, hands the work to the engine and reports. It knows
//! nothing about SDK calls.

mod apply;
mod cost;
mod demo;
mod deploy;
mod destroy;
mod invoke;
mod local;
mod package;
mod permissions;
mod plan;
mod report;
mod retrieve;
mod session;
mod status;
mod unlock;
mod validate;
mod verify;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::cloud::TargetKind;
use crate::events::{ErrorKind, Event, Summary};
use crate::model;
pub use crate::output::Exit;
use crate::output::{Format, Output};
use session::{Ctx, Home, Online};

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
    /// `--env` or XTASK_ENV was given (not the default): commands that may break someone
    /// else's run or delete on AWS require it.
    #[arg(skip)]
    env_given: bool,
    /// Where to deploy: the local cloud on 127.0.0.1, or AWS through the standard credential
    /// chain (AWS_PROFILE, AWS_REGION, SSO, web identity).
    #[arg(long, global = true, value_enum, default_value = "local", env = "XTASK_TARGET")]
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
    /// Override what the environment chooses between, as the stacks declare it (for example
    /// database=full for a pr-* environment, which takes the express path by default).
    #[arg(long, global = true, value_name = "CHOICE=VALUE")]
    choose: Vec<String>,
}

impl Global {
    /// `cargo xtask <rest>` as a hint to paste: with this run's `--env`, `--target` and
    /// `--choose` where they are not the defaults, so that it acts on what this run did.
    pub fn command_line(&self, rest: &str) -> String {
        let mut line = format!("cargo xtask {rest}");
        if self.env_given || self.env != "dev" {
            line.push_str(&format!(" --env {}", self.env));
        }
        if self.target == TargetKind::Aws {
            line.push_str(" --target aws");
        }
        for c in &self.choose {
            line.push_str(&format!(" --choose {c}"));
        }
        line
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or update the selected tutorials and wait until they are usable.
    ///
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
    /// Show what exists of the selected tutorials.
    ///
    /// Show what exists of the selected tutorials, with its outputs (pool id, client id, ...).
    #[command(
        after_help = "Examples:\n  cargo xtask status -t 2                   # a table on stdout, totals last\n  cargo xtask status -v                     # with each resource's outputs (pool id, client id, ...)"
    )]
    Status(Select),
    /// Delete everything the selected tutorials own.
    ///
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
    /// Show what the deployed resources cost per month while idle.
    ///
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
    /// Retrieve from tutorial 1's Knowledge Base as a demo user.
    ///
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
    /// Ask a tutorial's agent as a demo user.
    ///
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
    /// Prove the tenant isolation of the deployed environment.
    ///
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
    /// Serve tutorial 3's web page on 127.0.0.1.
    ///
    /// Serve tutorial 3's web page on 127.0.0.1 (against --target local or aws) until Ctrl-C:
    /// sign in as a demo user, or with a username and password, and talk to both agents; a
    /// side-by-side view asks two users the same question. Builds the page on first use (npm,
    /// from web/package-lock.json), then reuses the build until web/ changes.
    #[command(
        after_help = "Examples:\n  cargo xtask demo                          # http://127.0.0.1:8400/\n  cargo xtask demo --tutorial 4             # tutorial 4's tools agent (gateway, memory)\n  cargo xtask demo --port 0                 # any free port\n  cargo xtask demo --build-only"
    )]
    Demo {
        /// Which tutorial's agents the page talks to (4: the tools agent, one conversation per
        /// sign-in).
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
    /// Build the agents' code packages without deploying.
    ///
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
        #[arg(long = "for", value_enum, default_value = "aws", hide_possible_values = true)]
        platform: TargetKind,
    },
    /// Manage the local cloud by hand.
    ///
    /// Manage the local cloud (ministack, moto, the RDS Data API over PostgreSQL; 127.0.0.1) by hand.
    #[command(
        after_help = "Examples:\n  cargo xtask local up\n  cargo xtask local status\n  cargo xtask local down"
    )]
    Local {
        #[command(subcommand)]
        action: LocalAction,
    },
    /// Print the IAM policy the deploying identity needs.
    ///
    /// Print the IAM policy the deploying identity (a CI role, a person) needs for --env, or for
    /// every environment with --any-env: each API call deploy, destroy and verify make, the
    /// tagging at creation, passing the roles to Bedrock and AgentCore, and the service-linked
    /// roles AWS creates on first use. Names we choose (roles, buckets, secrets) are scoped to
    /// the environment's prefix.
    #[command(
        after_help = "Examples:\n  cargo xtask permissions --env pr-42 > policy.json\n  cargo xtask permissions -t 1 --env pr-42   # only what tutorial 1 needs\n  cargo xtask permissions --any-env         # for a CI role that deploys every pull request\n  cargo xtask permissions --boundary        # the roles' permissions boundary, created once per account\n  cargo xtask permissions --env pr-42 --parts policies/   # as managed policies, to attach together"
    )]
    Permissions {
        /// For every environment of this project (agentcore-mt-*), e.g. for a CI role.
        #[arg(long)]
        any_env: bool,
        /// Only what this tutorial (with those it builds on) needs: its number or stack name.
        /// Without it: every tutorial.
        #[arg(long, short)]
        tutorial: Option<String>,
        /// Print instead the account's permissions boundary (the managed policy
        /// `agentcore-mt-boundary` every role the provisioner makes carries), for an
        /// administrator to create once per account.
        #[arg(long, conflicts_with_all = ["any_env", "tutorial"])]
        boundary: bool,
        /// Write the policy as managed policies (6,144 characters each) into this directory,
        /// `agentcore-mt-deploy-<env>-<n>.json`, for a role to attach together (the whole
        /// policy, about 10,100 characters, fits only a role's inline policy, 10,240).
        #[arg(long, value_name = "DIR", conflicts_with = "boundary")]
        parts: Option<PathBuf>,
    },
    /// Turn runs' JSON output into a Markdown summary.
    ///
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
    /// Break the lock of --env left by a killed run.
    ///
    /// Break the lock of --env: for a run that was killed and whose lease has not expired yet
    /// (leases expire by themselves a minute after their holder stops renewing them). Says
    /// whose it was.
    #[command(
        after_help = "Examples:\n  cargo xtask unlock --env pr-42\n  cargo xtask unlock --env pr-42 --target aws"
    )]
    Unlock {
        /// Break a lease that is still live (renewed by a run that may still be going); without
        /// it, only an expired lease or one whose holder on this machine is gone is broken.
        #[arg(long)]
        force: bool,
    },
    /// Destroy leaked environments that are due.
    ///
    /// Finds every environment by what it owns (name and ownership tags) and by its deployment
    /// record in the lock bucket, and destroys each one that is due, whole: the expiry its
    /// record holds (deploy --ttl) has passed, or, without one, its last deploy is older than
    /// --older-than. Never touches what is not an environment's by name and tags, a younger
    /// environment, one without a record, or one whose lock another run holds.
    #[command(
        after_help = "Examples:\n  cargo xtask gc --older-than 6h --prefix pr- --dry-run\n  cargo xtask gc --older-than 6h --prefix pr- --target aws --output-format json"
    )]
    Gc(crate::lifecycle::gc::GcArgs),
    /// Measure the engine's schedule on a simulated cloud in virtual time.
    #[command(
        after_help = "Examples:\n  cargo xtask bench                         # the schedule in virtual time, 5 runs\n  cargo xtask bench --rls --rows 100000 --tenants 100"
    )]
    Bench(crate::bench::BenchArgs),
}

#[derive(Debug, Args)]
struct Select {
    /// Which tutorial: its number or stack name, as the stack files define them, several with
    /// commas (1,2), or all.
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

fn root() -> PathBuf {
    crate::workspace()
}

/// Global options that mean nothing to a command, hidden from its `--help` (each is still
/// accepted there, and ignored, so that one XTASK_* environment serves every command).
const NOT_FOR: &[(&str, &[&str])] = &[
    (
        "report",
        &["env", "target", "verbose", "yes", "state_dir", "stacks_dir", "lock_timeout", "choose"],
    ),
    ("local", &["env", "target", "yes", "stacks_dir", "lock_timeout", "choose"]),
    ("permissions", &["target", "verbose", "yes", "state_dir", "lock_timeout", "choose"]),
    ("status", &["yes", "lock_timeout"]),
    ("verify", &["yes", "lock_timeout"]),
    ("invoke", &["yes", "lock_timeout"]),
    ("retrieve", &["yes", "lock_timeout"]),
    ("cost", &["yes", "lock_timeout"]),
    ("demo", &["yes", "lock_timeout"]),
    ("package", &["yes", "lock_timeout"]),
    ("validate", &["target", "yes", "state_dir", "lock_timeout"]),
];

impl Cli {
    /// The command line's definition, each command's help listing only the global options
    /// that apply to it.
    fn command_with_own_options() -> clap::Command {
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        // A subcommand that declares an argument itself does not get the global one: a hidden
        // copy (same id, so parsing is unchanged) keeps it out of that command's help.
        let globals: Vec<clap::Arg> =
            cmd.get_arguments().filter(|a| a.is_global_set()).cloned().collect();
        for (name, hidden) in NOT_FOR {
            cmd = cmd.mut_subcommand(*name, |mut c| {
                for a in globals.iter().filter(|a| hidden.contains(&a.get_id().as_str())) {
                    c = c.arg(a.clone().hide(true));
                }
                c
            });
        }
        cmd
    }

    /// Parses the command line; `--tutorial`'s help lists what the stack files define.
    pub fn parse_listing_tutorials() -> Cli {
        use clap::FromArgMatches;
        let dir = std::env::var_os("XTASK_STACKS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("stacks"));
        let mut cmd = Cli::command_with_own_options();
        if let Ok(all) = model::load_all(&dir) {
            let listed: Vec<String> = all.iter().map(|s| s.label()).collect();
            let help = format!(
                "Which tutorial: {}, several with commas (1,2), or all (from the stack files in {})",
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
        let matches = cmd.try_get_matches().unwrap_or_else(|e| exit_on(e));
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        let given = |m: &clap::ArgMatches| {
            m.value_source("env").is_some_and(|s| s != clap::parser::ValueSource::DefaultValue)
        };
        cli.global.env_given =
            given(&matches) || matches.subcommand().is_some_and(|(_, m)| given(m));
        cli
    }
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Deploy { .. } => "deploy",
            Command::Unlock { .. } => "unlock",
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

/// A command line that does not parse: clap's message on stderr as always and, when JSON output
/// was asked for, an error and a summary on stdout, so that a machine learns how the run ended.
fn exit_on(e: clap::Error) -> ! {
    use clap::error::ErrorKind as Clap;
    let args: Vec<String> = std::env::args().collect();
    let json = args.windows(2).any(|w| w[0] == "--output-format" && w[1] == "json")
        || args.iter().any(|a| a == "--output-format=json");
    let help = matches!(e.kind(), Clap::DisplayHelp | Clap::DisplayVersion);
    if json && !help {
        let out = Output::new(Format::Json, false);
        let message = e.render().to_string();
        let first = message.lines().next().unwrap_or_default().trim_start_matches("error: ");
        out.event(Event::Error(crate::events::Error::new(ErrorKind::InvalidArguments, first)));
        use clap::CommandFactory;
        let names: Vec<String> =
            Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect();
        let command = args.iter().skip(1).find(|a| names.contains(a)).cloned();
        out.event(Event::Summary(Summary::Ended {
            // (the process ends here)
            command: Box::leak(command.unwrap_or_else(|| "xtask".into()).into_boxed_str()),
            env: std::env::var("XTASK_ENV").unwrap_or_else(|_| "dev".into()),
            ok: false,
            exit_code: 2,
        }));
    }
    e.exit()
}

/// Runs the command. Every path ends, in JSON mode, with a summary event (after an error event
/// where it failed), so that a machine reading stdout always learns how the run ended.
pub async fn run(cli: Cli) -> Exit {
    let out = Output::new(cli.global.output_format, cli.global.verbose);
    let exit = match execute(&cli, &out).await {
        Ok(exit) => exit,
        Err(e) => {
            out.error(ErrorKind::Failed, &format!("{e:#}"));
            Exit::Failed
        }
    };
    if !out.summarized() {
        out.event(Event::Summary(Summary::Ended {
            command: cli.command.name(),
            env: cli.global.env.clone(),
            ok: matches!(exit, Exit::Ok),
            exit_code: exit.code(),
        }));
    }
    exit
}

/// Dispatches on the command: those that need no stack files first, then those that need no
/// cloud, then the rest, connected.
async fn execute(cli: &Cli, out: &Output) -> Result<Exit> {
    let g = &cli.global;
    let home = Home::new(g);
    let tutorial = match &cli.command {
        Command::Local { action } => return local::run(action, &home.paths, out),
        Command::Report { files } => return report::run(files, out),
        Command::Bench(args) => {
            let env = (g.env.clone(), g.choose.clone());
            return crate::bench::run(args, &env, &home.root, &home.paths, &home.state_dir, out)
                .await;
        }
        Command::Permissions { any_env, tutorial, boundary, parts } => {
            let what = permissions::What {
                any_env: *any_env,
                tutorial: tutorial.as_deref(),
                boundary: *boundary,
                parts: parts.as_deref(),
            };
            return permissions::run(g, &home, &what, out);
        }
        Command::Deploy { select, .. }
        | Command::Plan(select)
        | Command::Status(select)
        | Command::Cost(select)
        | Command::Destroy { select, .. }
        | Command::Validate(select)
        | Command::Verify(select)
        | Command::Retrieve { select, .. }
        | Command::Invoke { select, .. }
        | Command::Package { select, .. } => select.tutorial.as_str(),
        Command::Demo { tutorial, .. } => tutorial.as_str(),
        Command::Unlock { .. } | Command::Gc(_) => "all",
    };
    let command = cli.command.name();
    // What may break another run's lock, or delete on AWS, names its environment: the default
    // `dev` may be someone else's live one.
    let breaks = matches!(cli.command, Command::Unlock { .. })
        || (matches!(cli.command, Command::Destroy { .. }) && g.target == TargetKind::Aws);
    if breaks && !g.env_given {
        out.error(
            ErrorKind::InvalidEnv,
            &format!(
                "{command} needs the environment named: --env NAME (or XTASK_ENV); the default `dev` may be someone else's; nothing was changed\n  hint: cargo xtask {command} --env dev{}",
                if g.target == TargetKind::Aws { " --target aws" } else { "" }
            ),
        );
        return Ok(Exit::Invalid);
    }
    let widen = matches!(cli.command, Command::Deploy { .. } | Command::Plan(_));
    // Teardown needs only the cloud: a checkout without an agent's sources or the migrations
    // (an older commit, a renamed directory) must still destroy what was deployed.
    let reads_files = !matches!(cli.command, Command::Destroy { .. });
    let cx = match Ctx::open(g, out, home, command, tutorial, widen, reads_files) {
        Ok(cx) => cx,
        Err(exit) => return Ok(exit),
    };
    let interruptible =
        matches!(cli.command, Command::Deploy { .. } | Command::Destroy { .. } | Command::Gc(_));
    let run = match &cli.command {
        Command::Validate(_) => return validate::run(&cx),
        Command::Package { platform, .. } => return package::run(&cx, *platform),
        Command::Demo { build_only: true, .. } => return demo::build(&cx),
        _ => Online::connect(cx, interruptible).await?,
    };
    match &cli.command {
        Command::Deploy { ttl, .. } => deploy::run(&run, *ttl).await,
        Command::Destroy { orphans, .. } => destroy::run(&run, *orphans).await,
        Command::Plan(_) => plan::run(&run).await,
        Command::Status(_) => status::run(&run).await,
        Command::Cost(_) => cost::run(&run).await,
        Command::Verify(_) => verify::run(&run).await,
        Command::Retrieve { user, query, .. } => retrieve::run(&run, user, query).await,
        Command::Invoke { user, prompt, .. } => invoke::run(&run, user, prompt).await,
        Command::Demo { port, tutorial, .. } => demo::run(&run, *port, tutorial).await,
        Command::Unlock { force } => unlock::run(&run, *force).await,
        Command::Gc(args) => {
            let ask = session::needs_confirmation(g);
            // The stack files as written: each environment gc destroys makes its own choices.
            let all = match run.home.load(out) {
                Ok(all) => all,
                Err(exit) => return Ok(exit),
            };
            let lock_timeout = g.lock_timeout;
            crate::lifecycle::gc::run(args, &all, &run.engine, &run.clients, lock_timeout, ask, out)
                .await
        }
        Command::Local { .. }
        | Command::Report { .. }
        | Command::Bench(_)
        | Command::Permissions { .. }
        | Command::Validate(_)
        | Command::Package { .. } => unreachable!("{command} returned above"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    /// Issue 28 item 8: a hint pasted acts on what the run did, not on `dev`.
    #[test]
    fn hints_carry_the_runs_environment_target_and_choices() {
        let cli = super::Cli::try_parse_from([
            "xtask",
            "destroy",
            "--env",
            "pr-5",
            "--target",
            "aws",
            "--choose",
            "database=full",
        ])
        .unwrap();
        assert_eq!(
            cli.global.command_line("destroy --tutorial 3"),
            "cargo xtask destroy --tutorial 3 --env pr-5 --target aws --choose database=full"
        );
        let default = super::Cli::try_parse_from(["xtask", "deploy"]).unwrap();
        assert_eq!(default.global.command_line("deploy"), "cargo xtask deploy");
    }

    /// Issue 28 item 11: a command's help lists only the global options that apply to it.
    #[test]
    fn help_lists_only_the_options_that_apply() {
        let mut cmd = super::Cli::command_with_own_options();
        cmd.build(); // (what parsing does: the global options reach the subcommands)
        let mut help = |name: &str| {
            // The options, not the examples after them.
            let help = cmd.find_subcommand_mut(name).unwrap().render_long_help().to_string();
            help.split("\nExamples:").next().unwrap_or_default().to_string()
        };
        let report = help("report");
        for hidden in ["--env", "--target", "--lock-timeout", "--choose", "--stacks-dir", "--yes"] {
            assert!(!report.contains(hidden), "report --help lists {hidden}:\n{report}");
        }
        assert!(report.contains("--output-format"), "{report}");
        let status = help("status");
        assert!(!status.contains("--lock-timeout") && !status.contains("--yes"), "{status}");
        assert!(status.contains("--env") && status.contains("--target"), "{status}");
        let local = help("local");
        assert!(!local.contains("--env ") && local.contains("--state-dir"), "{local}");
        let permissions = help("permissions");
        assert!(!permissions.contains("--lock-timeout") && permissions.contains("--env"));
        // Still accepted (one XTASK_* environment for every command), and still listed where
        // they apply.
        assert!(super::Cli::try_parse_from(["xtask", "status", "--lock-timeout", "5m"]).is_ok());
        assert!(help("deploy").contains("--lock-timeout"));
        // The real parser, as main uses it: the hidden copies parse as the globals do.
        let matches = super::Cli::command_with_own_options()
            .try_get_matches_from(["xtask", "status", "--env", "pr-9", "--lock-timeout", "5m"])
            .unwrap();
        let cli = <super::Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
        assert_eq!(cli.global.env, "pr-9");
        let matches = super::Cli::command_with_own_options()
            .try_get_matches_from(["xtask", "report", "--output-format", "json"])
            .unwrap();
        assert!(<super::Cli as clap::FromArgMatches>::from_arg_matches(&matches).is_ok());
        for args in [&["xtask", "demo", "--build-only"][..], &["xtask", "local", "up"]] {
            let parsed = super::Cli::command_with_own_options().try_get_matches_from(args);
            assert!(parsed.is_ok(), "{args:?}: {parsed:?}");
        }
    }
}
