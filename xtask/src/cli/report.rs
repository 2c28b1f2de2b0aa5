//! `report`: the Markdown summary of NDJSON runs, on stdout. A line that is not JSON is
//! invalid input, named by file and line.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Exit;
use crate::events::ErrorKind;
use crate::output::Output;

pub fn run(files: &[PathBuf], out: &Output) -> Result<Exit> {
    if files.is_empty() && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        out.error(
            ErrorKind::InvalidInput,
            "no events to report: give NDJSON files, or pipe them in\n  hint: cargo xtask report deploy.ndjson verify.ndjson (from runs with --output-format json)",
        );
        return Ok(Exit::Invalid);
    }
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
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(e) => events.push(e),
                Err(e) => {
                    out.error(
                        ErrorKind::InvalidInput,
                        &format!("{name}:{}: not a JSON event ({e})\n  hint: give the output of a command run with --output-format json", i + 1),
                    );
                    return Ok(Exit::Invalid);
                }
            }
        }
    }
    if events.is_empty() {
        let from: Vec<&str> = inputs.iter().map(|(name, _)| name.as_str()).collect();
        out.error(
            ErrorKind::InvalidInput,
            &format!("{}: no events to report\n  hint: give the output of a command run with --output-format json, e.g. cargo xtask deploy --output-format json > deploy.ndjson", from.join(", ")),
        );
        return Ok(Exit::Invalid);
    }
    print!("{}", crate::lifecycle::report::markdown(&events));
    Ok(Exit::Ok)
}
