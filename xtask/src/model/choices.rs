//! What an environment chooses between, declared by a stack: for example the claims database's
//! `database: express | full`, express for throw-away pull-request environments.
//!
//! ```yaml
//! choices:
//!   database:
//!     values: [full, express]
//!     default: full
//!     environments: {"pr-*": express}
//! ```
//!
//! A resource with `when: {database: full}` exists only in environments that chose `full`; a
//! reference may name alternatives (`${a.x|b.y}`, or `${a.x|}` for "or nothing", see `refs`);
//! `{{database}}` in a string is the value chosen. Every combination of values is checked when
//! the stack is loaded; `for_environment` then makes the plain stack one environment deploys, so
//! nothing after it (engine, plan, destroy) knows about choices.

use std::path::Path;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{refs, Diagnostic, Resource, Stack};
use crate::kinds;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub values: Vec<String>,
    pub default: String,
    /// Environment name patterns (`pr-*`: that prefix; otherwise the whole name) and the value
    /// those environments take; the first that matches wins, else `default`.
    #[serde(default)]
    pub environments: IndexMap<String, String>,
}

impl Choice {
    /// The value `env` takes, and why (for messages).
    pub fn for_env(&self, env: &str) -> (String, String) {
        for (pattern, value) in &self.environments {
            if matches(pattern, env) {
                return (value.clone(), format!("environments {pattern}"));
            }
        }
        (self.default.clone(), "the default".into())
    }
}

fn matches(pattern: &str, env: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => env.starts_with(prefix),
        None => env == pattern,
    }
}

/// The placeholders every stack has (filled by the engine, see `names::fill_placeholders`).
const BUILT_IN: &[&str] = &["account", "env", "env_"];

/// Whether `r` is in an environment that chose `chosen`.
fn included(r: &Resource, chosen: &IndexMap<String, String>) -> bool {
    r.when.iter().all(|(k, v)| chosen.get(k) == Some(v))
}

/// Every combination of the choices' values (one empty combination when there are none).
fn combinations(choices: &IndexMap<String, Choice>) -> Vec<IndexMap<String, String>> {
    let mut out = vec![IndexMap::new()];
    for (name, c) in choices {
        out = out
            .into_iter()
            .flat_map(|partial| {
                c.values.iter().map(move |v| {
                    let mut next = partial.clone();
                    next.insert(name.clone(), v.clone());
                    next
                })
            })
            .collect();
    }
    out
}

/// `{{name}}` placeholders in every string of `value`.
fn placeholders(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find("{{") {
                let Some(end) = rest[start..].find("}}") else { break };
                out.push(rest[start + 2..start + end].to_string());
                rest = &rest[start + end + 2..];
            }
        }
        Value::Array(items) => items.iter().for_each(|v| placeholders(v, out)),
        Value::Object(map) => map.values().for_each(|v| placeholders(v, out)),
        _ => {}
    }
}

fn fill(value: &mut Value, chosen: &IndexMap<String, String>) {
    match value {
        Value::String(s) if s.contains("{{") => {
            for (k, v) in chosen {
                *s = s.replace(&format!("{{{{{k}}}}}"), v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| fill(v, chosen)),
        Value::Object(map) => map.values_mut().for_each(|v| fill(v, chosen)),
        _ => {}
    }
}

/// The resource as an environment with `chosen` holds it (`has`: the resources it holds):
/// alternatives picked, values with none left out, `{{choice}}` filled, checked by its kind.
fn made_for(
    r: &Resource,
    chosen: &IndexMap<String, String>,
    has: &dyn Fn(&refs::Ref) -> bool,
) -> Result<Resource, String> {
    let mut properties = refs::choose(&r.properties, has)?.unwrap_or(Value::Null);
    fill(&mut properties, chosen);
    // The kind reads them again: a value left out may be one it needs.
    let (_, properties) = kinds::parse(r.kind.kind, properties)
        .expect("the kind was read from this stack")
        .map_err(|e| e.to_string())?;
    let depends_on: Vec<refs::Ref> = r.depends_on.iter().filter(|d| has(d)).cloned().collect();
    let mut all = refs::find_refs(&properties)?;
    all.extend(depends_on.iter().cloned());
    Ok(Resource { properties, refs: all, depends_on, ..r.clone() })
}

/// What is wrong with the stack's choices, `when`s and placeholders, checked for every
/// combination of values (so that any environment's stack is valid).
pub fn check(
    path: &Path,
    source: &str,
    choices: &IndexMap<String, Choice>,
    resources: &[Resource],
) -> Vec<Diagnostic> {
    let line_of = |text: &str| source.lines().position(|l| l.contains(text)).map(|i| i + 1);
    let diag = |line: Option<usize>, message: String, hint: &str| Diagnostic {
        file: path.to_path_buf(),
        line,
        message,
        hint: hint.to_string(),
    };
    let mut diags = Vec::new();
    for (name, c) in choices {
        let line = line_of(&format!("{name}:"));
        if BUILT_IN.contains(&name.as_str()) {
            diags.push(diag(
                line,
                format!("choice `{name}` has the name of a built-in placeholder"),
                "rename the choice",
            ));
        }
        let values = c.values.join(", ");
        let unknown = std::iter::once(&c.default)
            .chain(c.environments.values())
            .filter(|v| !c.values.contains(v));
        for v in unknown {
            diags.push(diag(
                line,
                format!("choice `{name}`: `{v}` is not one of its values ({values})"),
                "use one of the values, or add it to `values`",
            ));
        }
        for pattern in c.environments.keys() {
            let body = pattern.strip_suffix('*').unwrap_or(pattern);
            if body.is_empty()
                || !body
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
            {
                diags.push(diag(
                    line,
                    format!("choice `{name}`: environment pattern `{pattern}` is not an environment name or a prefix with `*`"),
                    "write an environment name (`dev`) or a prefix and `*` (`pr-*`)",
                ));
            }
        }
    }
    for r in resources {
        for (k, v) in &r.when {
            match choices.get(k) {
                None => diags.push(diag(
                    Some(r.line),
                    format!("resource `{}`: `when` names `{k}`, which the stack's `choices` do not declare", r.id),
                    "declare the choice under `choices:`, or fix the spelling",
                )),
                Some(c) if !c.values.contains(v) => diags.push(diag(
                    Some(r.line),
                    format!("resource `{}`: `when: {{{k}: {v}}}`: `{v}` is not one of {}", r.id, c.values.join(", ")),
                    "use one of the choice's values",
                )),
                Some(_) => {}
            }
        }
        let mut names = Vec::new();
        placeholders(&r.properties, &mut names);
        for n in names {
            if !BUILT_IN.contains(&n.as_str()) && !choices.contains_key(&n) {
                let mut known: Vec<&str> = BUILT_IN.to_vec();
                known.extend(choices.keys().map(String::as_str));
                diags.push(diag(
                    line_of(&format!("{{{{{n}}}}}")).or(Some(r.line)),
                    format!("resource `{}`: unknown placeholder `{{{{{n}}}}}`", r.id),
                    &format!("the placeholders are: {}", known.join(", ")),
                ));
            }
        }
    }
    if !diags.is_empty() {
        return diags;
    }
    for chosen in combinations(choices) {
        let has = |x: &refs::Ref| {
            x.stack.is_some()
                || resources.iter().any(|o| o.id == x.resource && included(o, &chosen))
        };
        let which: Vec<String> = chosen.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for r in resources.iter().filter(|r| included(r, &chosen)) {
            if let Err(m) = made_for(r, &chosen, &has) {
                diags.push(diag(
                    Some(r.line),
                    format!("resource `{}` in environments with {}: {m}", r.id, which.join(", ")),
                    "name an alternative that those environments have, or keep the resource out of them with `when`",
                ));
            }
        }
    }
    diags
}

/// References between stacks, checked for every combination of every stack's choices: a
/// reference to a resource that some environments leave out must name an alternative.
pub fn check_across(all: &[Stack]) -> Vec<Diagnostic> {
    let mut every: IndexMap<String, Choice> = IndexMap::new();
    for s in all {
        for (k, c) in &s.choices {
            every.entry(k.clone()).or_insert_with(|| c.clone());
        }
    }
    let mut diags = Vec::new();
    for chosen in combinations(&every) {
        let overrides: Vec<String> = chosen.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Err(m) = for_environment(all.to_vec(), "x", &overrides) {
            let file = all.iter().find(|s| m.starts_with(&s.file.display().to_string()));
            diags.push(Diagnostic {
                file: file.map(|s| s.file.clone()).unwrap_or_default(),
                line: None,
                message: format!("in environments with {}: {m}", overrides.join(", ")),
                hint: "name an alternative that those environments have (`${a.x|b.y}`)".into(),
            });
        }
    }
    diags
}

/// The stacks as environment `env` deploys them, with `overrides` (`database=full`) over what it
/// would choose. An override no stack declares, or a value not among a choice's, is an error.
pub fn for_environment(
    all: Vec<Stack>,
    env: &str,
    overrides: &[String],
) -> Result<Vec<Stack>, String> {
    let mut wanted: IndexMap<String, String> = IndexMap::new();
    for o in overrides {
        let Some((k, v)) = o.split_once('=') else {
            return Err(format!("--choose `{o}`: write CHOICE=VALUE, e.g. database=full"));
        };
        let declared: Vec<&Choice> = all.iter().filter_map(|s| s.choices.get(k)).collect();
        if declared.is_empty() {
            let names: Vec<&str> =
                all.iter().flat_map(|s| s.choices.keys().map(String::as_str)).collect();
            return Err(format!(
                "--choose {k}: no stack declares that choice (they declare: {})",
                names.join(", ")
            ));
        }
        if let Some(c) = declared.iter().find(|c| !c.values.iter().any(|x| x == v)) {
            return Err(format!("--choose {k}={v}: the values are {}", c.values.join(", ")));
        }
        wanted.insert(k.to_string(), v.to_string());
    }
    let chosen_of = |s: &Stack| -> IndexMap<String, String> {
        s.choices
            .iter()
            .map(|(k, c)| (k.clone(), wanted.get(k).cloned().unwrap_or_else(|| c.for_env(env).0)))
            .collect()
    };
    let every: Vec<(String, IndexMap<String, String>)> =
        all.iter().map(|s| (s.name.clone(), chosen_of(s))).collect();
    let present: Vec<(String, String)> = all
        .iter()
        .zip(&every)
        .flat_map(|(s, (_, chosen))| {
            s.resources
                .iter()
                .filter(|r| included(r, chosen))
                .map(|r| (s.name.clone(), r.id.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    all.into_iter()
        .zip(every)
        .map(|(s, (_, chosen))| {
            let has = |x: &refs::Ref| {
                present.iter().any(|(st, id)| st == x.stack_or(&s.name) && *id == x.resource)
            };
            let resources = s
                .resources
                .iter()
                .filter(|r| included(r, &chosen))
                .map(|r| {
                    made_for(r, &chosen, &has).map_err(|m| {
                        format!("{}:{}: resource `{}`: {m}", s.file.display(), r.line, r.id)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Stack { resources, chosen, ..s })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_take_the_first_pattern_that_matches() {
        let c = Choice {
            values: vec!["full".into(), "express".into()],
            default: "full".into(),
            environments: [
                ("pr-*".to_string(), "express".to_string()),
                ("demo".into(), "express".into()),
            ]
            .into_iter()
            .collect(),
        };
        assert_eq!(c.for_env("pr-42").0, "express");
        assert_eq!(c.for_env("demo").0, "express");
        assert_eq!(c.for_env("demo-2").0, "full", "a name without `*` matches whole");
        assert_eq!(c.for_env("dev").0, "full");
        assert_eq!(c.for_env("xpr-1").0, "full");
    }

    const STACK: &str = "name: t\ntutorial: 2\ndescription: d\nchoices:\n  database:\n    values: [full, express]\n    default: full\n    environments: {\"pr-*\": express}\nresources:\n  net:\n    when: {database: full}\n    kind: ec2.vpc\n    properties:\n      cidr_block: 10.0.0.0/16\n  fast:\n    when: {database: express}\n    kind: secretsmanager.database_credentials\n    properties:\n      username: u_{{database}}\n  login:\n    kind: secretsmanager.database_credentials\n    properties:\n      username: x\n      description: \"${net.id|fast.username}\"\n    depends_on: [\"${net.id|}\"]\n";

    fn errors(source: &str) -> String {
        match super::super::parse_stack(Path::new("s.yaml"), source) {
            Ok(_) => "valid".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn each_environment_gets_the_resources_its_choice_keeps() {
        let stack = super::super::parse_stack(Path::new("s.yaml"), STACK).unwrap();
        let ids = |env: &str, o: &[String]| -> Vec<(String, serde_json::Value, usize)> {
            let made = for_environment(vec![stack.clone()], env, o).unwrap().remove(0);
            made.resources
                .iter()
                .map(|r| (r.id.clone(), r.properties.clone(), r.refs.len()))
                .collect()
        };
        let dev = ids("dev", &[]);
        assert_eq!(dev.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["net", "login"]);
        assert_eq!(dev[1].1["description"], "${net.id}");
        assert_eq!(dev[1].2, 2, "the alternative chosen, and depends_on");
        let pr = ids("pr-3", &[]);
        assert_eq!(pr.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["fast", "login"]);
        assert_eq!(pr[0].1["username"], "u_express", "{{database}} is the value chosen");
        assert_eq!(pr[1].1["description"], "${fast.username}");
        assert_eq!(pr[1].2, 1, "the depends_on that names nothing there is dropped");
        let forced = ids("pr-3", &["database=full".into()]);
        assert_eq!(forced[0].0, "net", "--choose wins over the environment's pattern");
        let bad = for_environment(vec![stack.clone()], "dev", &["database=fast".into()]);
        assert!(bad.unwrap_err().contains("the values are full, express"));
        let unknown = for_environment(vec![stack], "dev", &["db=full".into()]);
        assert!(unknown.unwrap_err().contains("no stack declares that choice"));
    }

    #[test]
    fn what_some_environment_could_not_deploy_is_an_error_at_load() {
        assert_eq!(errors(STACK), "valid");
        let no_alternative = STACK.replace("\"${net.id|fast.username}\"", "\"${net.id}\"");
        let e = errors(&no_alternative);
        assert!(
            e.contains("in environments with database=express: `${net.id}` names no resource"),
            "{e}"
        );
        let e = errors(&STACK.replace("when: {database: express}", "when: {database: fastest}"));
        assert!(e.contains("`fastest` is not one of full, express"), "{e}");
        let e = errors(&STACK.replace("when: {database: express}", "when: {db: express}"));
        assert!(e.contains("`when` names `db`, which the stack's `choices` do not declare"), "{e}");
        let e = errors(&STACK.replace("u_{{database}}", "u_{{databse}}"));
        assert!(e.contains("unknown placeholder `{{databse}}`"), "{e}");
        let e = errors(&STACK.replace("default: full", "default: fast"));
        assert!(e.contains("`fast` is not one of its values"), "{e}");
        // A value the kind needs, left out where its resource is not: the kind's own error.
        let e = errors(&STACK.replace("username: x", "username: \"${net.id|}\""));
        assert!(e.contains("missing field `username`"), "{e}");
    }
}
