//! `demo`: tutorial 3's web page, built if needed, served until Ctrl-C; `--build-only` builds it
//! without a cloud.

use anyhow::Result;

use super::session::{Ctx, Online};
use super::Exit;
use crate::events::Event;

pub async fn run(run: &Online<'_>, port: u16, tutorial: &str) -> Result<Exit> {
    let out = run.out;
    let agents = run.agents().await?;
    if agents.is_empty() {
        return Ok(run.no_agent(&format!("\n  hint: {}", run.g.command_line("demo --tutorial 3"))));
    }
    let spin = out.spinner("building the web page");
    let dist = crate::web::bundle(&run.home.root, &run.home.state_dir, &|m| {
        spin.set_message(m.to_string())
    });
    spin.finish_and_clear();
    let dist = dist?;
    let bytes: u64 = crate::web::sizes(&dist).values().sum();
    let agents = crate::web::agents(&run.closure(), agents);
    let env = run.g.env.clone();
    let ready = |url: &str| {
        out.warn(&format!(
            "demo of env `{env}` on {}: {url}  (page {} KiB; Ctrl-C stops it)",
            run.target_name(),
            bytes / 1024
        ));
        out.event(Event::Demo { url: url.to_string(), env: env.clone(), page_bytes: bytes });
    };
    // What the page knows goes stale when the environment is destroyed or deployed anew while
    // the demo runs: the server reads the agents again when it finds one gone.
    let read = || async {
        out.warn(&format!("env `{env}` changed since the demo started: reading its agents again"));
        let agents = match run.agents().await {
            Ok(agents) => agents,
            // Not deployed (any more): nothing to show, which the page is told.
            Err(e) if e.is::<crate::agents::NotDeployed>() => Vec::new(),
            Err(e) => {
                out.warn(&format!("error: reading env `{env}` again: {e:#}"));
                return Err(e);
            }
        };
        Ok(crate::web::agents(&run.closure(), agents))
    };
    let deploy_hint = run.g.command_line(&format!("deploy --tutorial {tutorial}"));
    let refresh = crate::web::Refresh { read, deploy_hint };
    crate::web::serve(run.clients.clone(), agents, &env, &dist, port, ready, refresh).await?;
    Ok(Exit::Ok)
}

/// `demo --build-only`: builds the page and says where it is.
pub fn build(cx: &Ctx<'_>) -> Result<Exit> {
    let out = cx.out;
    let dist = crate::web::bundle(&cx.home.root, &cx.home.state_dir, &|m| out.warn(m))?;
    let by_extension = crate::web::sizes(&dist);
    let bytes: u64 = by_extension.values().sum();
    out.say(&format!("✓ the demo page: {} ({} KiB)", dist.display(), bytes / 1024));
    out.event(Event::Page { path: dist, bytes, by_extension });
    Ok(Exit::Ok)
}
