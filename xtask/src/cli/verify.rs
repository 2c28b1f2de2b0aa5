//! `verify`: the isolation suite against every selected tutorial that has an agent.

use std::time::Instant;

use anyhow::Result;

use super::session::Online;
use super::Exit;
use crate::agents::Verdict;
use crate::cloud::TargetKind;
use crate::events::{Event, Summary};

pub async fn run(run: &Online<'_>) -> Result<Exit> {
    let (out, started) = (run.out, Instant::now());
    let agents = run.agents().await?;
    let gateways = run.gateways().await?;
    if agents.is_empty() && gateways.is_empty() {
        return Ok(run.no_agent(" or gateway to verify"));
    }
    let local = run.g.target == TargetKind::Local;
    let ctx = crate::agents::VerifyContext {
        clients: &run.clients,
        base_url: run.clients.agentcore_invoke.clone(),
        pool_keys_dir: local.then(|| run.home.paths.dir.join("ministack-state/cognito-pool-keys")),
        agents_exposed: local,
    };
    let spin = out.spinner("verifying");
    let show = |c: &crate::agents::Case| {
        let mark = match c.outcome {
            Verdict::Pass => "✓",
            Verdict::Fail => "✗",
            Verdict::NotRun => "-",
        };
        let detail =
            if c.detail.is_empty() { String::new() } else { format!("\n    {}", c.detail) };
        out.say(&format!(
            "{mark} tutorial {} {} {}: {}{detail}",
            c.tutorial,
            c.agent,
            c.category.as_str(),
            c.name
        ));
        out.event(Event::Case(c.clone()));
    };
    let cases = crate::agents::verify(&ctx, &agents, show).await;
    let cases = match cases {
        Ok(mut cases) => crate::agents::verify_tools(&ctx, &gateways, show).await.map(|more| {
            cases.extend(more);
            cases
        }),
        Err(e) => Err(e),
    };
    spin.finish_and_clear();
    let cases = cases?;
    let count = |v: Verdict| cases.iter().filter(|c| c.outcome == v).count();
    let (passed, failed, not_run) =
        (count(Verdict::Pass), count(Verdict::Fail), count(Verdict::NotRun));
    out.say(&format!(
        "{} verify of env `{}` on {}: {passed} passed, {failed} failed, {not_run} not run ({:.1}s)",
        if failed == 0 { "✓" } else { "✗" },
        run.g.env,
        run.target_name(),
        started.elapsed().as_secs_f64()
    ));
    if let Some(hint) = marketplace_hint(
        cases.iter().filter(|c| c.outcome == Verdict::Fail).map(|c| c.detail.as_str()),
    ) {
        out.warn(hint);
    }
    out.event(Event::Summary(Summary::Verify {
        command: "verify",
        env: run.g.env.clone(),
        target: run.g.target,
        cases: cases.len(),
        passed,
        failed,
        not_run,
    }));
    Ok(if failed == 0 { Exit::Ok } else { Exit::Failed })
}

/// The first call of a third-party model in an account subscribes to it through AWS Marketplace,
/// which the execution roles may not do (`aws-marketplace:Subscribe` is the account's decision,
/// not an agent's): a failure that says so gets the one-time step.
fn marketplace_hint<'a>(mut details: impl Iterator<Item = &'a str>) -> Option<&'static str> {
    details.any(|d| {
        let d = d.to_ascii_lowercase();
        d.contains("aws-marketplace") || d.contains("model access") || d.contains("marketplace subscription")
    })
    .then_some(
        "hint: the model's first use in this AWS account subscribes to it through AWS Marketplace, which the agents' roles may not do: enable the model once (Bedrock console, Model access, or one call by an administrator), then run verify again",
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_marketplace_refusal_names_the_one_time_step() {
        let denied = "answer 500: AccessDeniedException: not authorized to perform aws-marketplace:Subscribe";
        assert!(super::marketplace_hint([denied].into_iter()).is_some());
        assert!(super::marketplace_hint(["Sources: tier regular"].into_iter()).is_none());
    }
}
