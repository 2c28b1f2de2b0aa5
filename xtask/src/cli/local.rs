//! `local`: the local cloud by hand (install, up, down, status).

use anyhow::{Context, Result};

use super::{Exit, LocalAction};
use crate::cloud::local::{self, Paths};
use crate::events::Event;
use crate::output::Output;

pub fn run(action: &LocalAction, paths: &Paths, out: &Output) -> Result<Exit> {
    let event = |state, venv, endpoints, stopped| Event::Local { state, venv, endpoints, stopped };
    match action {
        LocalAction::Install => {
            let spin = out.spinner("installing the local cloud");
            local::install(paths, &|m| spin.set_message(m.to_string()))?;
            spin.finish_and_clear();
            out.say(&format!("✓ local cloud installed in {}", paths.venv.display()));
            out.event(event("installed", Some(paths.venv.clone()), None, None));
        }
        LocalAction::Up => {
            super::session::warn_if_gone(paths, out);
            let spin = out.spinner("starting the local cloud");
            let e = local::up(paths, &|m| spin.set_message(m.to_string()))
                .context("the local cloud did not start")?;
            spin.finish_and_clear();
            out.say(&format!(
                "✓ local cloud up: AWS APIs at {}, S3 Vectors at {}, RDS Data API at {}, AgentCore Runtime invocations at {}",
                e.ministack, e.moto, e.data_api, e.runtime_host
            ));
            out.event(event("up", None, Some(e), None));
        }
        LocalAction::Down => {
            let stopped = local::down(paths)?;
            out.say(if stopped {
                "✓ local cloud stopped"
            } else {
                "✓ the local cloud was not running"
            });
            out.event(event("down", None, None, Some(stopped)));
        }
        LocalAction::Status => match local::running(paths) {
            Some(e) => {
                let health = local::health(&e);
                for (part, ok) in &health {
                    out.say(&format!("{} {part}", if *ok { "●" } else { "✗" }));
                }
                out.say(&format!(
                    "AWS APIs at {}, S3 Vectors at {}, RDS Data API at {}, AgentCore Runtime invocations at {}",
                    e.ministack, e.moto, e.data_api, e.runtime_host
                ));
                if health.iter().all(|(_, ok)| *ok) {
                    out.event(event("up", None, Some(e), None));
                } else {
                    // Running, but a part did not answer within 2 s: busy, or hung.
                    out.say("a part did not answer: deploy waits up to 90 s for it; `cargo xtask local down` stops the local cloud");
                    out.event(event("not_answering", None, Some(e), None));
                    return Ok(Exit::Failed);
                }
            }
            None => {
                out.say(&match local::gone(paths) {
                    Some(why) => format!("○ the local cloud has stopped ({why}); `cargo xtask local up` starts a new, empty one (deploy does too)"),
                    None => "○ the local cloud is not running (`cargo xtask local up` starts it; deploy does too)".to_string(),
                });
                out.event(event("down", None, None, None));
                return Ok(Exit::Failed);
            }
        },
    }
    Ok(Exit::Ok)
}
