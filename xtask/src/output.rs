//! Every message goes through one `Output`: human text and progress to stderr (spinners only on
//! a terminal), newline-delimited JSON events to stdout with `--output-format json`.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::events::{ErrorKind, Event};

use crate::engine::{Action, Outcome, Reporter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Progress and results for people, on stderr.
    Human,
    /// Newline-delimited JSON events on stdout: a version line, one event per resource, a summary.
    Json,
}

#[derive(Clone)]
pub struct Output {
    pub format: Format,
    multi: MultiProgress,
    tty: bool,
    bars: Arc<Mutex<HashMap<String, ProgressBar>>>,
    /// Off a terminal (a CI log), when each resource last said how its long wait is going.
    last_said: Arc<Mutex<HashMap<String, std::time::Instant>>>,
    /// Every resource (`-v`), not only those that change.
    pub verbose: bool,
    /// Colour on a terminal, unless NO_COLOR (or CLICOLOR=0) is set.
    pub color: bool,
    /// Whether a summary event was written: the CLI writes one itself on any path that did not.
    summarized: Arc<std::sync::atomic::AtomicBool>,
}

impl Output {
    pub fn new(format: Format, verbose: bool) -> Output {
        let tty = std::io::stderr().is_terminal() && format == Format::Human;
        let target = if tty { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let out = Output {
            format,
            multi: MultiProgress::with_draw_target(target),
            tty,
            bars: Arc::new(Mutex::new(HashMap::new())),
            last_said: Arc::new(Mutex::new(HashMap::new())),
            verbose,
            color: tty && console::colors_enabled_stderr(),
            summarized: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        };
        out.event(Event::Version { version: 1 });
        out
    }

    /// Writes one JSON event (JSON mode only).
    pub fn event(&self, event: Event) {
        if matches!(event, Event::Summary(_)) {
            self.summarized.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if self.format == Format::Json {
            let mut stdout = std::io::stdout().lock();
            let line = serde_json::to_string(&event).expect("events serialize to JSON");
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
        }
    }

    /// Whether people read this on a terminal (spinners, colour).
    pub fn tty(&self) -> bool {
        self.tty
    }

    /// Whether a summary event was written.
    pub fn summarized(&self) -> bool {
        self.summarized.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// An error: `message` (with its hint lines) on stderr, and in JSON mode an
    /// `{"type":"error", "kind", "message"}` event.
    pub fn error(&self, kind: ErrorKind, message: &str) {
        self.warn(&format!("error: {message}"));
        self.event(Event::Error(crate::events::Error::new(kind, message)));
    }

    /// A line for people, on stderr (human mode only).
    pub fn say(&self, line: &str) {
        if self.format == Format::Human {
            if self.tty {
                let _ = self.multi.println(line);
            } else {
                eprintln!("{line}");
            }
        }
    }

    /// A warning or error: on stderr in every mode.
    pub fn warn(&self, line: &str) {
        if self.tty {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    /// A spinner for a long wait that is not one resource's (starting the local cloud).
    pub fn spinner(&self, message: &str) -> ProgressBar {
        let pb = self.multi.add(ProgressBar::new_spinner());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"),
        );
        pb.set_message(message.to_string());
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    }

    fn bar(&self, stack: &str, id: &str) -> Option<ProgressBar> {
        self.bars.lock().expect("not poisoned").get(&format!("{stack}/{id}")).cloned()
    }
}

/// Whether a line says what will happen (plan) or what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tense {
    Planned,
    Done,
}

/// The change marker of an action, as people know it from Terraform: `+` create, `~` update,
/// `-/+` replace, `-` delete, `=` no change.
fn marker(action: Action) -> (&'static str, console::Color) {
    match action {
        Action::Create => ("+", console::Color::Green),
        Action::Update => ("~", console::Color::Yellow),
        Action::Replace => ("-/+", console::Color::Magenta),
        Action::Delete => ("-", console::Color::Red),
        Action::Noop => ("=", console::Color::White),
    }
}

/// One line per resource for people: what will happen or happened, to what, how long it took.
/// Only a finished run marks a line done (✓); a failure is ✗ in both.
pub fn outcome_line(o: &Outcome, tense: Tense, color: bool) -> String {
    let status = match (o.ok(), tense) {
        (false, _) => "✗ ",
        (true, Tense::Done) => "✓ ",
        (true, Tense::Planned) => "",
    };
    let (mark, colour) = marker(o.action);
    let mark = format!("{mark:>3}");
    let mark = if color {
        console::style(mark).fg(colour).bold().force_styling(true).to_string()
    } else {
        mark
    };
    let mut line = format!(
        "{status}{mark} {:<7} {}/{} ({}) {}",
        o.action.as_str(),
        o.stack,
        o.id,
        o.kind,
        o.physical_name
    );
    if o.seconds > 0.0 {
        line.push_str(&format!(" [{:.1}s]", o.seconds)); // a plan did nothing, so took no time
    }
    if let Some(note) = &o.note {
        line.push_str(&format!("\n      {note}"));
    }
    for c in &o.changes {
        line.push_str(&format!(
            "\n      {}: {} -> {}{}",
            c.field,
            c.current,
            c.desired,
            if c.replaces { " (forces replacement)" } else { "" }
        ));
    }
    if let Some(err) = &o.error {
        line.push_str(&format!("\n      error: {err}"));
    }
    line
}

impl Output {
    /// A resource's line, unless it is an unchanged one and `-v` was not given.
    pub fn resource_line(&self, o: &Outcome, tense: Tense) {
        // Left alone by a stop: counted in the summary, not listed one by one.
        let not_started = format!("{}: not started", crate::engine::INTERRUPTED);
        if o.error.as_deref() == Some(not_started.as_str()) && !self.verbose {
            return;
        }
        if self.verbose || !o.ok() || o.action != Action::Noop {
            self.say(&outcome_line(o, tense, self.color));
        }
    }
}

impl Reporter for Output {
    fn started(&self, stack: &str, id: &str, kind: &str, what: &str) {
        if !self.tty {
            return;
        }
        let key = format!("{stack}/{id}");
        let mut bars = self.bars.lock().expect("not poisoned");
        let pb = bars.entry(key.clone()).or_insert_with(|| {
            let pb = self.multi.add(ProgressBar::new_spinner());
            pb.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed}]")
                    .expect("valid template"),
            );
            pb.set_prefix(format!("{key} ({kind})"));
            pb.enable_steady_tick(Duration::from_millis(120));
            pb
        });
        pb.set_message(what.to_string());
    }

    fn progress(&self, stack: &str, id: &str, message: &str) {
        if let Some(pb) = self.bar(stack, id) {
            pb.set_message(message.to_string());
        }
        // No spinner in a CI log: a line now and then, so that a ten-minute wait is not silence.
        if !self.tty {
            let key = format!("{stack}/{id}");
            let now = std::time::Instant::now();
            let mut last = self.last_said.lock().expect("not poisoned");
            let due =
                last.get(&key).is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(30));
            if due {
                last.insert(key.clone(), now);
                drop(last);
                self.say(&format!("  … {key}: {message}"));
            }
        }
    }

    fn retrying(&self, stack: &str, id: &str, why: &str) {
        self.progress(stack, id, why);
        self.say(&format!("  ↻ {stack}/{id}: {why}"));
        self.event(Event::Retry {
            stack: stack.to_string(),
            id: id.to_string(),
            reason: why.to_string(),
        });
    }

    fn finished(&self, o: &Outcome) {
        if let Some(pb) =
            self.bars.lock().expect("not poisoned").remove(&format!("{}/{}", o.stack, o.id))
        {
            pb.finish_and_clear();
            self.multi.remove(&pb);
        }
        self.resource_line(o, Tense::Done);
        self.event(crate::events::Resource::of(o, "done"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(action: Action, error: Option<&str>) -> Outcome {
        Outcome {
            stack: "s".into(),
            id: "r".into(),
            kind: "k".into(),
            physical_name: "n".into(),
            action,
            error: error.map(str::to_string),
            changes: Vec::new(),
            note: None,
            seconds: 0.0,
            outputs: None,
        }
    }

    /// Markers as Terraform's; a plan never marks a line done; colour only when asked for
    /// (a terminal without NO_COLOR), and then only on the marker.
    #[test]
    fn lines_carry_markers_and_colour_only_when_asked() {
        let line = |a, e, t, c| outcome_line(&outcome(a, e), t, c);
        assert_eq!(line(Action::Create, None, Tense::Planned, false), "  + create  s/r (k) n");
        assert_eq!(line(Action::Update, None, Tense::Done, false), "✓   ~ update  s/r (k) n");
        assert_eq!(line(Action::Replace, None, Tense::Planned, false), "-/+ replace s/r (k) n");
        assert_eq!(
            line(Action::Delete, Some("x"), Tense::Done, false),
            "✗   - delete  s/r (k) n\n      error: x"
        );
        assert_eq!(line(Action::Noop, None, Tense::Planned, false), "  = noop    s/r (k) n");
        let coloured = line(Action::Create, None, Tense::Planned, true);
        assert!(
            coloured.contains("\u{1b}[") && coloured.ends_with("create  s/r (k) n"),
            "{coloured:?}"
        );
    }
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
