//! `permissions`: the IAM policy the deploying identity needs, for one environment or any, for
//! every tutorial or one (with what it builds on).

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use super::session::{check_env, Home};
use super::{Exit, Global};
use crate::events::{ErrorKind, Event};
use crate::model::names::PROJECT;
use crate::model::{self, Stack};
use crate::output::{Format, Output};
use crate::permissions::Scope;

/// What `permissions` was asked for.
pub struct What<'a> {
    pub any_env: bool,
    pub tutorial: Option<&'a str>,
    pub boundary: bool,
    /// Write managed policies into this directory instead of printing one document.
    pub parts: Option<&'a Path>,
}

pub fn run(g: &Global, home: &Home, what: &What<'_>, out: &Output) -> Result<Exit> {
    if what.boundary {
        let document = crate::permissions::boundary_document();
        if out.format == Format::Human {
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
        out.event(Event::Policy { env: None, document, part: None, file: None });
        return Ok(Exit::Ok);
    }
    if !what.any_env {
        if let Err(exit) = check_env(g, out) {
            return Ok(exit);
        }
    }
    let scope = match what.tutorial {
        None => None,
        Some(t) => match scope(home, t, out) {
            Ok(scope) => Some(scope),
            Err(exit) => return Ok(exit),
        },
    };
    let env = (!what.any_env).then_some(g.env.as_str());
    let policy = crate::permissions::policy(env, scope.as_ref());
    if let Some(dir) = what.parts {
        return write_parts(&policy, env, dir, out);
    }
    let size = crate::permissions::size(&policy);
    if size > crate::permissions::INLINE_POLICY_LIMIT {
        out.error(
            ErrorKind::InvalidArguments,
            &format!(
                "the policy is {size} characters: more than a role's inline policies hold ({}), so it cannot be one document\n  hint: write it as managed policies to attach together: {}",
                crate::permissions::INLINE_POLICY_LIMIT,
                g.command_line("permissions --parts policies/")
            ),
        );
        return Ok(Exit::Invalid);
    }
    if out.format == Format::Human {
        println!("{}", serde_json::to_string_pretty(&policy)?);
    }
    out.event(Event::Policy {
        env: env.map(str::to_string),
        document: policy,
        part: None,
        file: None,
    });
    Ok(Exit::Ok)
}

/// The policy as managed policies in `dir`, `agentcore-mt-deploy-<env or any>-<n>.json`, and
/// how to create and attach them.
fn write_parts(policy: &Value, env: Option<&str>, dir: &Path, out: &Output) -> Result<Exit> {
    let parts = match crate::permissions::parts(policy, crate::permissions::MANAGED_POLICY_LIMIT) {
        Ok(parts) => parts,
        Err(e) => {
            out.error(ErrorKind::Failed, &format!("the policy cannot be split: {e}"));
            return Ok(Exit::Failed);
        }
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let scope = env.unwrap_or("any");
    let mut names = Vec::new();
    for (i, document) in parts.into_iter().enumerate() {
        let name = format!("{PROJECT}-deploy-{scope}-{}", i + 1);
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, serde_json::to_string_pretty(&document)? + "\n")
            .with_context(|| format!("cannot write {}", file.display()))?;
        out.event(Event::Policy {
            env: env.map(str::to_string),
            document,
            part: Some(i + 1),
            file: Some(file.clone()),
        });
        names.push((name, file));
    }
    out.say(&format!(
        "✓ {} managed policies (at most {} characters each) in {}; together they grant what the one document would. Create and attach each:",
        names.len(),
        crate::permissions::MANAGED_POLICY_LIMIT,
        dir.display()
    ));
    for (name, file) in &names {
        out.say(&format!(
            "    aws iam create-policy --policy-name {name} --policy-document file://{}\n    aws iam attach-role-policy --role-name ROLE --policy-arn arn:aws:iam::ACCOUNT:policy/{name}",
            file.display()
        ));
    }
    Ok(Exit::Ok)
}

/// The kinds tutorial `t` deploys (with what it builds on), and those destroy only reads: the
/// tutorials built on it (to refuse while one is deployed), with what they build on.
fn scope(home: &Home, t: &str, out: &Output) -> Result<Scope<'static>, Exit> {
    let all = model::load_all(&home.stacks_dir).map_err(|e| {
        out.error(ErrorKind::InvalidStack, &format!("the stack files are invalid\n{e}"));
        Exit::Invalid
    })?;
    let selected = model::select(&all, t).map_err(|m| {
        out.error(ErrorKind::UnknownTutorial, &m);
        Exit::Invalid
    })?;
    let kinds = |stacks: &[&Stack]| -> Vec<&'static str> {
        stacks.iter().flat_map(|s| s.resources.iter().map(|r| r.kind.kind)).collect()
    };
    let dependents = model::dependents(&all, &selected);
    Ok(Scope {
        full: kinds(&model::with_required(&all, &selected)),
        read: kinds(&model::with_required(&all, &dependents)),
    })
}
