//! `retrieve`: signs in as a demo user and retrieves from tutorial 1's Knowledge Base with the
//! metadata filter that user's tier allows, as the policy agent does.

use anyhow::{bail, Context, Result};

use super::session::{users_of, Online};
use super::Exit;
use crate::events::{ErrorKind, Event};
use crate::kinds::bedrock_knowledge_base::KnowledgeBase;
use crate::model::Stack;
use crate::output::Format;

fn has_knowledge_base(s: &Stack) -> bool {
    s.resources.iter().any(|r| r.is::<KnowledgeBase>())
}

pub async fn run(run: &Online<'_>, user: &str, query: &str) -> Result<Exit> {
    let out = run.out;
    // The selected stacks with a Knowledge Base, and their demo users.
    let closure = run.closure();
    let Some(stack) =
        closure.iter().find(|s| has_knowledge_base(s) && users_of(s).iter().any(|u| u == user))
    else {
        let hint = match run.all.iter().find(|s| has_knowledge_base(s)) {
            Some(s) => format!(
                "retrieve works on tutorial {} (its Knowledge Base), as {}",
                s.tutorial,
                users_of(s).join(" or ")
            ),
            None => "no stack file declares a Knowledge Base".into(),
        };
        out.error(
            ErrorKind::UnknownUser,
            &format!("no selected tutorial has both a Knowledge Base and the demo user `{user}`\n  hint: {hint}"),
        );
        return Ok(Exit::Invalid);
    };
    let found = run.deployed(&[stack]).await;
    // The app client the users sign in with (a stack may declare others, e.g. for verify).
    let (Some(client_id), Some(kb)) =
        (found.get(&stack.name, "app_client", "id"), found.of_kind::<KnowledgeBase>(stack, "id"))
    else {
        bail!(
            "tutorial {}'s app client and Knowledge Base are not deployed\n  hint: {}",
            stack.tutorial,
            run.g.command_line(&format!("deploy --tutorial {}", stack.tutorial))
        );
    };
    let secret_arn = found
        .users(stack)
        .remove(user)
        .context("the demo users' password secret is not deployed")?;
    let token = crate::agents::sign_in(&run.clients, &client_id, user, &secret_arn).await?.access;
    let claims = crate::demo::claims(&token)?;
    let tier = crate::demo::tier(&claims)?;
    let results = crate::demo::retrieve(&run.clients, &kb, query, &tier).await?;
    out.say(&format!("{user} (tier {tier}, from the token's cognito:groups) asks: {query}"));
    for r in &results {
        out.say(&format!(
            "\n  [{}] {} (score {})",
            r["tier"].as_str().unwrap_or_default(),
            r["uri"].as_str().unwrap_or_default(),
            r["score"]
        ));
        for line in
            r["text"].as_str().unwrap_or_default().lines().filter(|l| !l.trim().is_empty()).take(12)
        {
            out.say(&format!("    {line}"));
        }
    }
    if results.is_empty() {
        out.say("  (nothing retrieved)");
    }
    // Human mode prints the top result on stdout too, unless both stdout and stderr are the
    // terminal (where it would show twice).
    let both_on_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    if out.format == Format::Human && !both_on_terminal {
        if let Some(first) = results.first() {
            println!("{}", first["text"].as_str().unwrap_or_default());
        }
    }
    out.event(Event::Retrieval { user: user.to_string(), tier, query: query.to_string(), results });
    Ok(Exit::Ok)
}
