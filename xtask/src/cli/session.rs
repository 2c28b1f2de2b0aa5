//! What the commands share: where state lives, the selected stacks, the connection to the
//! target and the engine over it, and the questions and hints several commands ask or give.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::{Exit, Global};
use crate::cloud::{self, local, Clients, TargetKind};
use crate::engine::{self, Engine};
use crate::events::{Error, ErrorKind, Event};
use crate::model::{self, Stack};
use crate::output::Output;

/// The workspace, and where this run keeps its state.
pub struct Home {
    pub root: PathBuf,
    pub state_dir: PathBuf,
    pub paths: local::Paths,
    pub stacks_dir: PathBuf,
}

impl Home {
    pub fn new(g: &Global) -> Home {
        let root = super::root();
        let state_dir = g.state_dir.clone().unwrap_or_else(|| root.join(".xtask"));
        Home {
            paths: local::Paths::new(&state_dir),
            stacks_dir: g.stacks_dir.clone().unwrap_or_else(|| root.join("stacks")),
            root,
            state_dir,
        }
    }

    /// Every stack file; invalid ones are reported with file and line (exit 2).
    pub fn load(&self, out: &Output) -> Result<Vec<Stack>, Exit> {
        model::load_all(&self.stacks_dir).map_err(|e| {
            let message = "the stack files are invalid; nothing was changed";
            out.warn(&format!("error: {message}\n{e}"));
            out.event(Event::Error(Error {
                diagnostics: Some(e.0),
                ..Error::new(ErrorKind::InvalidStack, message)
            }));
            Exit::Invalid
        })
    }
}

/// `--env`, checked before anything reads or calls.
pub fn check_env(g: &Global, out: &Output) -> Result<(), Exit> {
    model::names::check_env_name(&g.env).map_err(|m| {
        out.error(ErrorKind::InvalidEnv, &format!("--env: {m}"));
        Exit::Invalid
    })
}

/// A command on the selected stacks: what it reads and where it reports.
pub struct Ctx<'a> {
    pub g: &'a Global,
    pub out: &'a Output,
    pub home: Home,
    pub command: &'static str,
    pub all: Vec<Stack>,
    selected: Vec<usize>,
    /// The selection is every tutorial (`--tutorial all`, the default), not one asked for.
    pub everything: bool,
    closure: Vec<usize>,
}

impl<'a> Ctx<'a> {
    /// Loads the stack files and selects `tutorial`; `widen`: the selection takes in what it
    /// builds on (deploy, plan); `reads_files`: the files the stacks name are checked (not for
    /// destroy, which needs only the cloud). Invalid input is reported here (exit 2).
    pub fn open(
        g: &'a Global,
        out: &'a Output,
        home: Home,
        command: &'static str,
        tutorial: &str,
        widen: bool,
        reads_files: bool,
    ) -> Result<Ctx<'a>, Exit> {
        check_env(g, out)?;
        // The stacks as this environment has them (its choices made: `model::choices`).
        let all =
            model::choices::for_environment(home.load(out)?, &g.env, &g.choose).map_err(|m| {
                out.error(ErrorKind::InvalidStack, &m);
                Exit::Invalid
            })?;
        let index = |s: &Stack| all.iter().position(|x| x.name == s.name).expect("one of all");
        let mut stacks = model::select(&all, tutorial).map_err(|m| {
            out.error(ErrorKind::UnknownTutorial, &m);
            Exit::Invalid
        })?;
        // A tutorial that builds on others (3 on 1 and 2) is deployed and planned with them;
        // the other commands only read them, for the attributes that name what it made there.
        let closure = model::with_required(&all, &stacks);
        if widen && closure.len() > stacks.len() {
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
        let checked = if reads_files { model::check_files(&stacks, &home.root) } else { Ok(()) };
        if let Err(e) = checked {
            out.error(
                ErrorKind::InvalidFiles,
                &format!("the files the stacks name are invalid; nothing was changed\n{e}"),
            );
            return Err(Exit::Invalid);
        }
        if matches!(command, "deploy" | "plan" | "destroy") {
            for s in &closure {
                for (name, value) in &s.chosen {
                    let why = match g.choose.iter().any(|o| o.starts_with(&format!("{name}="))) {
                        true => "--choose".to_string(),
                        false => s.choices[name].for_env(&g.env).1,
                    };
                    out.say(&format!(
                        "tutorial {}: {name} = {value} ({why}; the values are {})",
                        s.tutorial,
                        s.choices[name].values.join(", ")
                    ));
                }
            }
        }
        let selected = stacks.iter().map(|s| index(s)).collect();
        let closure = closure.iter().map(|s| index(s)).collect();
        let everything = tutorial == "all";
        Ok(Ctx { g, out, home, command, selected, everything, closure, all })
    }

    /// The selected stacks.
    pub fn stacks(&self) -> Vec<&Stack> {
        self.selected.iter().map(|&i| &self.all[i]).collect()
    }

    /// The selected stacks and what they build on.
    pub fn closure(&self) -> Vec<&Stack> {
        self.closure.iter().map(|&i| &self.all[i]).collect()
    }

    /// What the selection builds on but did not select: read for attributes only.
    pub fn context(&self) -> Vec<&Stack> {
        self.closure.iter().filter(|i| !self.selected.contains(i)).map(|&i| &self.all[i]).collect()
    }

    /// "the local cloud" or "AWS", as summaries say.
    pub fn target_name(&self) -> &'static str {
        match self.g.target {
            TargetKind::Local => "the local cloud",
            TargetKind::Aws => "AWS",
        }
    }

    /// Whether a change needs a person's yes: on AWS, unless --yes or CI=true.
    pub fn needs_confirmation(&self) -> bool {
        needs_confirmation(self.g)
    }
}

/// Whether a change to the target needs a person's yes: on AWS, unless --yes or CI=true.
pub fn needs_confirmation(g: &Global) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    g.target == TargetKind::Aws && !g.yes && !ci
}

/// A resource's state: its outputs if it exists, or why it could not be observed.
pub type Observed = Result<Option<crate::engine::Outputs>, String>;

/// A command connected to its target, with an engine over the target's clients.
pub struct Online<'a> {
    pub cx: Ctx<'a>,
    pub clients: Clients,
    pub engine: Arc<Engine>,
    pub stop: engine::Stop,
    pub started: Instant,
}

impl<'a> std::ops::Deref for Online<'a> {
    type Target = Ctx<'a>;
    fn deref(&self) -> &Ctx<'a> {
        &self.cx
    }
}

impl<'a> Online<'a> {
    /// Connects to the target: starts the local cloud if needed, or shows the AWS account.
    /// `interruptible`: Ctrl-C stops the run gracefully (deploy, destroy, gc).
    pub async fn connect(cx: Ctx<'a>, interruptible: bool) -> Result<Online<'a>> {
        let started = Instant::now();
        let clients = connect(cx.g, &cx.home, cx.out).await?;
        let stop = engine::Stop::default();
        if interruptible {
            // (gc holds the lock of each environment it destroys, not of --env)
            // (unlock always needs the environment named)
            let env =
                if cx.command == "gc" { "<the environment it was destroying>" } else { &cx.g.env };
            let target = if cx.g.target == TargetKind::Aws { " --target aws" } else { "" };
            let unlock = format!("cargo xtask unlock --env {env}{target}");
            watch_interrupts(stop.clone(), cx.out.clone(), unlock);
        }
        let engine = Arc::new(Engine {
            kinds: crate::kinds::registry(&clients),
            env: cx.g.env.clone(),
            account: clients.account.clone(),
            reporter: Arc::new(cx.out.clone()),
            backoff: engine::Backoff::default(),
            stop: stop.clone(),
        });
        Ok(Online { cx, clients, engine, stop, started })
    }

    /// What is deployed of `stacks`, by (stack, logical id).
    pub async fn deployed(&self, stacks: &[&Stack]) -> crate::agents::Deployed {
        let found = self.engine.observed_outputs(stacks).await;
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

    /// The deployed agents of the selection (with what it builds on, for their attributes).
    /// The selected tutorials' agents. With every tutorial selected (the default), those not
    /// deployed are skipped with a note, so that `verify` and `invoke` work on what is there;
    /// an error only when none is, or when the tutorial asked for is not.
    pub async fn agents(&self) -> Result<Vec<crate::agents::Agent>> {
        let known = self.closure();
        let found = self.deployed(&known).await;
        let mut agents = Vec::new();
        let mut missing = Vec::new();
        for stack in self.stacks() {
            // Not deployed: the hint deploys it in this run's environment and target.
            let found = crate::agents::Agent::all(&[stack], &known, &found).map_err(|e| {
                match e.downcast::<crate::agents::NotDeployed>() {
                    Ok(n) => anyhow::Error::new(crate::agents::NotDeployed {
                        hint: Some(
                            self.g.command_line(&format!("deploy --tutorial {}", n.tutorial)),
                        ),
                        ..n
                    }),
                    Err(e) => e,
                }
            });
            match found {
                Ok(a) => agents.extend(a),
                Err(e) if self.everything => missing.push((stack, e)),
                Err(e) => return Err(e),
            }
        }
        if agents.is_empty() {
            if let Some((_, e)) = missing.into_iter().next() {
                return Err(e);
            }
            return Ok(agents);
        }
        for (stack, e) in missing {
            let why = e.to_string();
            self.out.warn(&format!(
                "note: tutorial {} skipped: {}",
                stack.label(),
                why.lines().next().unwrap_or_default()
            ));
        }
        Ok(agents)
    }

    /// The deployed gateways of the selection (tutorial 4's tool layer), as `agents` finds the
    /// runtimes: those not deployed are skipped with a note when every tutorial is selected.
    pub async fn gateways(&self) -> Result<Vec<crate::agents::Gateway>> {
        let known = self.closure();
        let found = self.deployed(&known).await;
        let local =
            (self.g.target == TargetKind::Local).then_some(self.clients.agentcore_invoke.as_str());
        let mut gateways = Vec::new();
        for stack in self.stacks() {
            match crate::agents::Gateway::all(&[stack], &known, &found, local) {
                Ok(g) => gateways.extend(g),
                Err(e) if self.everything => self.out.warn(&format!(
                    "note: tutorial {} skipped: {}",
                    stack.label(),
                    e.to_string().lines().next().unwrap_or_default()
                )),
                Err(e) => match e.downcast::<crate::agents::NotDeployed>() {
                    Ok(n) => {
                        return Err(anyhow::Error::new(crate::agents::NotDeployed {
                            hint: Some(
                                self.g.command_line(&format!("deploy --tutorial {}", n.tutorial)),
                            ),
                            ..n
                        }))
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        Ok(gateways)
    }

    /// No selected tutorial has an agent: invalid input (exit 2), reported with `hint`.
    pub fn no_agent(&self, hint: &str) -> Exit {
        self.out.error(ErrorKind::NoAgent, &format!("no selected tutorial has an agent{hint}"));
        Exit::Invalid
    }

    /// Each resource of the selection as it is now: `(stack, id, kind, physical name, state)`
    /// (what the selection builds on is read too, for the attributes that name its resources).
    pub async fn observed(&self) -> Vec<(String, String, String, String, Observed)> {
        let stacks = self.stacks();
        let everything: Vec<&Stack> =
            self.context().into_iter().chain(stacks.iter().copied()).collect();
        let found = self.engine.observed_outputs(&everything).await;
        found.into_iter().filter(|(stack, ..)| stacks.iter().any(|s| &s.name == stack)).collect()
    }
}

/// Says so when the local cloud recorded here has stopped: the start that follows is a new,
/// empty one, without what was deployed on the old.
pub(super) fn warn_if_gone(paths: &local::Paths, out: &Output) {
    if let Some(why) = local::gone(paths) {
        out.warn(&format!(
            "warning: the local cloud had stopped ({why}): starting a new, empty one; what was deployed on it is gone (deploy again)"
        ));
    }
}

async fn connect(g: &Global, home: &Home, out: &Output) -> Result<Clients> {
    let (sdk, local) = match g.target {
        TargetKind::Local => {
            warn_if_gone(&home.paths, out);
            let spin = out.spinner("starting the local cloud");
            let endpoints = local::up(&home.paths, &|m| spin.set_message(m.to_string()))?;
            spin.finish_and_clear();
            let sdk = cloud::sdk_config(TargetKind::Local, Some(&endpoints.ministack)).await;
            let local = cloud::LocalEndpoints {
                rds_data: Some(endpoints.data_api.clone()),
                s3vectors: Some(endpoints.moto.clone()),
                runtime_host: Some(endpoints.runtime_host.clone()),
                database_gateway: endpoints.database_gateway(&home.paths),
            };
            (sdk, Some(local))
        }
        TargetKind::Aws => (cloud::sdk_config(TargetKind::Aws, None).await, None),
    };
    // Before any call: without a region every endpoint is `https://sts..amazonaws.com`.
    if g.target == TargetKind::Aws && sdk.region().is_none_or(|r| r.as_ref().is_empty()) {
        anyhow::bail!(
            "no AWS region is set, so there is no endpoint to call; nothing was changed\n  hint: set one, e.g. AWS_REGION=us-east-1 cargo xtask ..., or `aws configure set region us-east-1` (with AWS_PROFILE=NAME: `aws configure set region us-east-1 --profile NAME`)"
        );
    }
    let packager = crate::packaging::Packager::new(&home.paths);
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
    let clients = Clients::new(g.target, &sdk, local.as_ref(), home.root.clone(), packager).await;
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

/// On the first Ctrl-C: say so and set `stop` (nothing new starts; calls in flight get a
/// bounded time; the run then ends with its summary and exit code 130). On the second: exit
/// at once.
fn watch_interrupts(stop: engine::Stop, out: Output, unlock: String) {
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
            out.warn(&format!(
                "stopped at once: run the command again to go on from where it was (a lock this run held stays until its lease runs out: a run on this machine takes it over at once; from elsewhere, break it with `{unlock}`)"
            ));
            std::process::exit(130);
        }
    });
}

/// The demo users a stack file declares.
pub fn users_of(s: &Stack) -> Vec<String> {
    s.resources
        .iter()
        .filter(|r| r.is::<crate::kinds::cognito_user::User>())
        .filter_map(|r| r.properties["username"].as_str().map(str::to_string))
        .collect()
}

/// An unknown demo user is invalid input (exit 2); the hint names the users of each tutorial.
pub fn unknown_user(out: &Output, user: &str, stacks: &[&Stack], what: &str) -> Exit {
    let hint: Vec<String> = stacks
        .iter()
        .filter(|s| !users_of(s).is_empty())
        .map(|s| format!("--tutorial {} for {}", s.tutorial, users_of(s).join(" / ")))
        .collect();
    out.error(
        ErrorKind::UnknownUser,
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
