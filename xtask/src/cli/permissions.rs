//! `permissions`: the IAM policy the deploying identity needs, for one environment or any, for
//! every tutorial or one (with what it builds on).

use anyhow::Result;

use super::session::{check_env, Home};
use super::{Exit, Global};
use crate::events::{ErrorKind, Event};
use crate::model::{self, Stack};
use crate::output::{Format, Output};
use crate::permissions::Scope;

pub fn run(
    g: &Global,
    home: &Home,
    any_env: bool,
    tutorial: Option<&str>,
    boundary: bool,
    out: &Output,
) -> Result<Exit> {
    if boundary {
        let document = crate::permissions::boundary_document();
        if out.format == Format::Human {
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
        out.event(Event::Policy { env: None, document });
        return Ok(Exit::Ok);
    }
    if !any_env {
        if let Err(exit) = check_env(g, out) {
            return Ok(exit);
        }
    }
    let scope = match tutorial {
        None => None,
        Some(t) => match scope(home, t, out) {
            Ok(scope) => Some(scope),
            Err(exit) => return Ok(exit),
        },
    };
    let env = (!any_env).then_some(g.env.as_str());
    let policy = crate::permissions::policy(env, scope.as_ref());
    if out.format == Format::Human {
        println!("{}", serde_json::to_string_pretty(&policy)?);
    }
    out.event(Event::Policy { env: env.map(str::to_string), document: policy });
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
