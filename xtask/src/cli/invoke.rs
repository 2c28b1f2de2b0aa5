//! `invoke`: one question to one tutorial's agent, as a demo user. Where several selected
//! agents serve the user (tutorial 2's and tutorial 3's claims agents), the earliest tutorial's
//! answers.

use anyhow::{Context, Result};
use serde_json::json;

use super::session::{unknown_user, users_of, Online};
use super::Exit;
use crate::events::Event;
use crate::output::Format;

pub async fn run(run: &Online<'_>, user: &str, prompt: &str) -> Result<Exit> {
    let (out, known) = (run.out, run.closure());
    if !known.iter().any(|s| users_of(s).iter().any(|u| u == user)) {
        return Ok(unknown_user(out, user, &known, "an agent"));
    }
    let agents = run.agents().await?;
    let Some(agent) = agents.iter().find(|a| a.users.contains_key(user)) else {
        return Ok(unknown_user(out, user, &known, "an agent"));
    };
    let secret = agent
        .users
        .get(user)
        .with_context(|| format!("the password secret of {user} is not deployed"))?;
    let tokens = crate::agents::sign_in(&run.clients, &agent.client_id, user, secret).await?;
    let url = crate::agents::invocation_url(&run.clients.agentcore_invoke, &agent.arn);
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
    out.event(Event::Answer {
        tutorial: agent.tutorial,
        agent: agent.name.clone(),
        user: user.to_string(),
        prompt: prompt.to_string(),
        status: answer.status,
        text: answer.text.clone(),
    });
    if answer.status != 200 {
        out.warn(&format!("✗ the runtime answered HTTP {}: {}", answer.status, answer.text.trim()));
        return Ok(Exit::Failed);
    }
    Ok(Exit::Ok)
}
