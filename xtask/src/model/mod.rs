//! The stack model: `stacks/*.yaml` parsed, validated and turned into a resource graph before
//! any API call is made.

pub mod choices;
pub mod graph;
pub mod names;
pub mod refs;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use crate::kinds::{self, KindInfo};
pub use names::{NameStyle, Naming};
pub use refs::Ref;
mod declared;

/// One stack file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StackFile {
    name: String,
    tutorial: u8,
    description: String,
    #[serde(default)]
    choices: IndexMap<String, choices::Choice>,
    resources: IndexMap<String, declared::Declared>,
}

#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub tutorial: u8,
    pub description: String,
    pub file: PathBuf,
    /// What environments choose between (`database: express | full`), as declared.
    pub choices: IndexMap<String, choices::Choice>,
    /// What this environment chose, once the stack is made for it (`choices::for_environment`).
    pub chosen: IndexMap<String, String>,
    pub resources: Vec<Resource>,
}

impl Stack {
    /// How messages name it: `1 (unstructured-rag)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.tutorial, self.name)
    }
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub id: String,
    pub kind: &'static KindInfo,
    /// Properties as written, references still in place.
    pub properties: Value,
    /// Every reference: in its properties, and in `depends_on` (waited for, not used).
    pub refs: Vec<Ref>,
    /// The references of `depends_on` alone (the engine waits on `refs`; tests read these).
    #[cfg_attr(not(test), allow(dead_code))]
    pub depends_on: Vec<Ref>,
    /// The choices an environment must have made for it to hold this resource.
    pub when: IndexMap<String, String>,
    pub line: usize,
}

impl Resource {
    /// Whether it is of kind `K`.
    pub fn is<K: crate::engine::Kind>(&self) -> bool {
        self.kind.kind == K::INFO.kind
    }
}

impl Resource {
    /// The ids of its own stack this resource depends on, each once.
    pub fn dependencies(&self) -> Vec<String> {
        let mut deps: Vec<String> =
            self.refs.iter().filter(|r| r.stack.is_none()).map(|r| r.resource.clone()).collect();
        deps.sort();
        deps.dedup();
        deps
    }
}

/// A problem in a stack file, located and with a hint on what to do.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
    pub hint: String,
}

impl Stack {
    /// The other stacks this one references (it builds on them), each once.
    pub fn requires(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .resources
            .iter()
            .flat_map(|r| r.refs.iter().filter_map(|x| x.stack.as_deref()))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message)?,
            None => write!(f, "{}: {}", self.file.display(), self.message)?,
        }
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct Invalid(pub Vec<Diagnostic>);

/// Reads and validates one stack file.
pub fn load_stack(path: &Path) -> Result<Stack, Invalid> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        Invalid(vec![Diagnostic {
            file: path.to_path_buf(),
            line: None,
            message: format!("cannot read the stack file: {e}"),
            hint: "run the command from the repository, or pass --stacks-dir".into(),
        }])
    })?;
    parse_stack(path, &source)
}

/// Parses and validates a stack from its text (`path` is only used in messages).
pub fn parse_stack(path: &Path, source: &str) -> Result<Stack, Invalid> {
    let diag = |line: Option<usize>, message: String, hint: &str| Diagnostic {
        file: path.to_path_buf(),
        line,
        message,
        hint: hint.to_string(),
    };
    let file: StackFile = serde_yaml_ng::from_str(source).map_err(|e| {
        Invalid(
            parse_errors(source, &e)
                .into_iter()
                .map(|(line, message, hint)| diag(line, message, hint))
                .collect(),
        )
    })?;

    let mut diags = Vec::new();
    let mut resources = Vec::new();
    for (id, spec) in file.resources {
        let line = line_of_key(source, &id);
        if let Err(m) = names::check_logical_id(&id) {
            diags.push(diag(line, m, "rename the resource and every reference to it"));
        }
        let (kind, mut properties, when) = (spec.kind, spec.properties, spec.when);
        rebase_files(kind.files, &mut properties, path);
        let depends_on = serde_json::Value::from(spec.depends_on);
        let found = refs::find_refs(&properties).and_then(|found| {
            let waits = refs::find_refs(&depends_on)?;
            // Each entry exactly one `${...}` (which may name alternatives).
            let whole = depends_on.as_array().into_iter().flatten().all(|entry| {
                let text = entry.as_str().unwrap_or_default();
                matches!(refs::groups(text).as_deref(), Ok([g]) if g.text == text)
            });
            if !whole {
                return Err(
                    "each `depends_on` entry is one reference, e.g. \"${ingestion.job_id}\"".into(),
                );
            }
            Ok((found, waits))
        });
        match found {
            Ok((mut found, depends_on)) => resources.push(Resource {
                refs: {
                    found.extend(depends_on.iter().cloned());
                    found
                },
                depends_on,
                id,
                kind,
                properties,
                when,
                line: line.unwrap_or(0),
            }),
            Err(m) => diags.push(diag(line, m, "references look like `${user_pool.id}`")),
        }
    }

    for r in &resources {
        // References to another stack's resources are checked once every stack is loaded.
        for reference in r.refs.iter().filter(|x| x.stack.is_none()) {
            let line = line_of_text(source, &reference.to_string()).or(Some(r.line));
            let what = format!("`{reference}` in resource `{}`", r.id);
            if let Some((message, hint)) = unresolved(reference, &resources, &what, "this stack") {
                diags.push(diag(line, message, &hint));
            }
        }
    }

    // Physical names are checked with the longest env name and a 12-digit account, so that any
    // valid --env gives valid names.
    let naming = Naming { env: "x".repeat(16), tutorial: file.tutorial, account: "0".repeat(12) };
    for r in &resources {
        let name = names::physical_name(r.kind.name_style, &naming, &r.id, &r.properties);
        if name.contains("${") {
            continue; // a name taken from a reference is checked when it is known
        }
        if let Err(m) = names::check_physical_name(r.kind.name_style, &name) {
            diags.push(diag(
                Some(r.line),
                m,
                "shorten the resource id (environments may be up to 16 characters long)",
            ));
        }
    }

    if diags.is_empty() {
        diags.extend(choices::check(path, source, &file.choices, &resources));
    }

    if diags.is_empty() {
        if let Err(cycle) = graph::topo_order(&resources) {
            let line = resources.iter().find(|r| r.id == cycle[0]).map(|r| r.line);
            diags.push(diag(
                line,
                format!("dependency cycle: {}", cycle.join(" -> ")),
                "break the cycle: a resource cannot depend, through references, on itself",
            ));
        }
    }

    if !diags.is_empty() {
        return Err(Invalid(diags));
    }
    Ok(Stack {
        name: file.name,
        tutorial: file.tutorial,
        description: file.description,
        file: path.to_path_buf(),
        choices: file.choices,
        chosen: IndexMap::new(),
        resources,
    })
}

/// What is wrong with `reference` (described as `what`) among `resources`, which `holder`
/// defines, as (message, hint); `None` if the resource and its attribute exist.
fn unresolved(
    reference: &Ref,
    resources: &[Resource],
    what: &str,
    holder: &str,
) -> Option<(String, String)> {
    match resources.iter().find(|o| o.id == reference.resource) {
        None => Some((
            format!("{what} refers to `{}`, which {holder} does not define", reference.resource),
            format!(
                "{}define `{}` or use one of: {}",
                did_you_mean(&reference.resource, resources.iter().map(|r| r.id.as_str())),
                reference.resource,
                ids(resources)
            ),
        )),
        Some(t) if !t.kind.attributes.contains(&reference.attribute.as_str()) => Some((
            format!("`{reference}`: a {} has no attribute `{}`", t.kind.kind, reference.attribute),
            format!(
                "{}use one of: {}",
                did_you_mean(&reference.attribute, t.kind.attributes.iter().copied()),
                t.kind.attributes.join(", ")
            ),
        )),
        Some(_) => None,
    }
}

/// The candidate closest to `word` (a misspelling of it), if one is close enough to suggest.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "did you mean `x`? " when one of `candidates` is close to `word`, else nothing.
fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates).map(|c| format!("did you mean `{c}`? ")).unwrap_or_default()
}

fn ids(resources: &[Resource]) -> String {
    resources.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")
}

/// serde's message for a misspelt key of a resource (`invalid value: string "propertys",
/// expected "kind" or "properties"`) in words that name the key.
fn resource_key_message(message: &str) -> String {
    let Some(rest) = message.split_once(": invalid value: string \"") else {
        return message.to_string();
    };
    match rest.1.split_once("\", expected \"kind\" or \"properties\"") {
        Some((key, _)) => {
            format!("{}: unknown key `{key}` (a resource has `kind` and `properties`)", rest.0)
        }
        None => message.to_string(),
    }
}

/// Makes the file properties of a resource relative to its stack file's directory: a relative
/// path is joined to that directory, then written relative to the workspace (where the kinds
/// resolve it) when it lies inside it, so that names shown stay short; absolute otherwise.
fn rebase_files(fields: &[&str], properties: &mut serde_json::Value, stack_file: &Path) {
    let workspace = crate::workspace();
    let workspace = workspace.as_path();
    let dir = stack_file.parent().unwrap_or(Path::new("."));
    let dir =
        std::env::current_dir().map(|cwd| cwd.join(dir)).unwrap_or_else(|_| dir.to_path_buf());
    let rebase = |value: &mut serde_json::Value| {
        let Some(text) = value.as_str() else {
            return;
        };
        if Path::new(text).is_absolute() {
            return;
        }
        let mut full = PathBuf::new();
        for part in dir.join(text).components() {
            match part {
                std::path::Component::ParentDir => {
                    full.pop();
                }
                std::path::Component::CurDir => {}
                other => full.push(other),
            }
        }
        let shown = full.strip_prefix(workspace).unwrap_or(&full);
        *value = serde_json::Value::String(shown.display().to_string());
    };
    for field in fields {
        match properties.get_mut(*field) {
            Some(serde_json::Value::Array(items)) => items.iter_mut().for_each(rebase),
            Some(value) => rebase(value),
            None => {}
        }
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or variant) with the closest of them
/// named first: "unknown field `x` (did you mean `a`?), expected one of ...".
fn with_suggestion(message: String) -> String {
    let Some(rest) = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| message.find(p).map(|i| (i, p.len())))
    else {
        return message;
    };
    let parts: Vec<&str> = message[rest.0 + rest.1..].split('`').collect();
    let (word, candidates) = (parts[0], parts.iter().skip(2).step_by(2).copied());
    match closest(word, candidates) {
        Some(c) => {
            let at = rest.0 + rest.1 + word.len() + 1;
            format!("{} (did you mean `{c}`?){}", &message[..at], &message[at..])
        }
        None => message,
    }
}

/// A serde_yaml error as (line, message, hint).
fn yaml_error(e: &serde_yaml_ng::Error) -> (Option<usize>, String, &'static str) {
    let line = e.location().map(|l| l.line());
    let message = with_suggestion(resource_key_message(&strip_location(&e.to_string())));
    let hint = if message.contains("unknown key") {
        "a resource has `kind`, `properties` and optionally `depends_on` and `when`: fix the spelling"
    } else if message.contains("unknown field") {
        "remove the field or fix its spelling; the expected fields are listed above"
    } else if message.contains("unknown variant") {
        "`kind` must be one of the kinds listed above"
    } else if message.contains("missing field") {
        "add the field"
    } else if message.contains("environment must not set") {
        "remove the variable; set discovery_url, allowed_clients or model_id instead"
    } else if message.contains("must not be empty") {
        "name at least one entry, e.g. allowed_clients: [\"${app_client.id}\"]"
    } else if message.contains("invalid type") {
        "give the field a value of the type named above"
    } else {
        "fix the YAML at that line"
    };
    (line, message, hint)
}

/// Every error of a stack file that does not parse, not only the first: a file that is YAML
/// but not a valid stack is checked again resource by resource (each alone, at its own lines);
/// a file that is not YAML at all gets one error, at the quote left open if that is the cause
/// (the parser notices it only where the next quote is, often many lines later).
fn parse_errors(
    source: &str,
    first: &serde_yaml_ng::Error,
) -> Vec<(Option<usize>, String, &'static str)> {
    let (line, message, hint) = yaml_error(first);
    if serde_yaml_ng::from_str::<serde_yaml_ng::Value>(source).is_err() {
        if let Some(open) = line.and_then(|l| unclosed_quote(source, l)) {
            return vec![(
                Some(open),
                format!(
                    "a quoted string that starts on this line is not closed (the YAML parser noticed at line {}: {message})",
                    line.unwrap_or_default()
                ),
                "close the quote",
            )];
        }
        return vec![(line, message, hint)];
    }
    #[derive(serde::Deserialize)]
    struct OnlyResources {
        #[allow(dead_code)] // read for its errors only
        resources: IndexMap<String, declared::Declared>,
    }
    let lines: Vec<&str> = source.lines().collect();
    let mut out: Vec<(Option<usize>, String, &'static str)> = Vec::new();
    for (start, end) in resource_blocks(&lines) {
        // The same line numbers as the file: blank lines, `resources:`, then the resource.
        let mut doc = vec![""; start];
        doc[start - 1] = "resources:";
        doc.extend(&lines[start..end]);
        if let Err(e) = serde_yaml_ng::from_str::<OnlyResources>(&doc.join("\n")) {
            out.push(yaml_error(&e));
        }
    }
    if !out.iter().any(|(l, m, _)| *l == line && *m == message) {
        out.insert(0, (line, message, hint));
    }
    out.sort_by_key(|(l, ..)| *l);
    out
}

/// The 0-based line ranges of each resource under `resources:` (keys at two spaces' indent).
fn resource_blocks(lines: &[&str]) -> Vec<(usize, usize)> {
    let Some(top) = lines.iter().position(|l| l.starts_with("resources:")) else {
        return Vec::new();
    };
    let is_key =
        |l: &str| l.starts_with("  ") && !l[2..].starts_with([' ', '#']) && !l.trim().is_empty();
    let end = lines[top + 1..]
        .iter()
        .position(|l| !l.is_empty() && !l.starts_with([' ', '#']))
        .map_or(lines.len(), |i| top + 1 + i);
    let starts: Vec<usize> = (top + 1..end).filter(|i| is_key(lines[*i])).collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, s)| (*s, starts.get(n + 1).copied().unwrap_or(end)))
        .collect()
}

/// The first line up to `upto` (1-based) whose value opens a quoted string it does not close
/// (`key: "text` or `- 'text`; a flow list with an odd number of double quotes).
fn unclosed_quote(source: &str, upto: usize) -> Option<usize> {
    let open = |value: &str| -> bool {
        let value = value.trim();
        if let Some(rest) = value.strip_prefix('"') {
            let mut escaped = false;
            for c in rest.chars() {
                match c {
                    '\\' => escaped = !escaped,
                    '"' if !escaped => return false,
                    _ => escaped = false,
                }
            }
            true
        } else if let Some(rest) = value.strip_prefix('\'') {
            // '' is a quote inside single quotes
            rest.replace("''", "").find('\'').is_none()
        } else if value.starts_with(['[', '{']) {
            (value.matches('"').count() - value.matches("\\\"").count()) % 2 == 1
        } else {
            false
        }
    };
    source.lines().take(upto).enumerate().find_map(|(i, line)| {
        let text = line.trim_start();
        let value = text.strip_prefix("- ").or_else(|| text.split_once(": ").map(|(_, v)| v))?;
        open(value).then_some(i + 1)
    })
}

/// serde_yaml puts "at line L column C" in its message; we print the line ourselves.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The 1-based line where `key:` is defined under `resources:` (two-space indent).
fn line_of_key(source: &str, key: &str) -> Option<usize> {
    let mut in_resources = false;
    for (i, line) in source.lines().enumerate() {
        if line.starts_with("resources:") {
            in_resources = true;
            continue;
        }
        if in_resources {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if indent == 2 && trimmed.strip_prefix(key).is_some_and(|rest| rest.starts_with(':')) {
                return Some(i + 1);
            }
        }
    }
    None
}

fn line_of_text(source: &str, text: &str) -> Option<usize> {
    source.lines().position(|l| l.contains(text)).map(|i| i + 1)
}

/// All stack files in `dir`, sorted by file name.
pub fn load_all(dir: &Path) -> Result<Vec<Stack>, Invalid> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| {
            Invalid(vec![Diagnostic {
                file: dir.to_path_buf(),
                line: None,
                message: format!("cannot read the stacks directory: {e}"),
                hint: "run the command inside the repository, or pass --stacks-dir".into(),
            }])
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Invalid(vec![Diagnostic {
            file: dir.to_path_buf(),
            line: None,
            message: "no stack files (*.yaml) in the stacks directory: there is nothing to do"
                .into(),
            hint:
                "run the command inside the repository, or pass --stacks-dir with the stack files"
                    .into(),
        }]));
    }
    let mut stacks = Vec::new();
    let mut diags = Vec::new();
    // Stacks whose file failed to load, by the name the file gives (or its file name says):
    // what builds on them is not checked against them, and is said once.
    let mut broken: Vec<String> = Vec::new();
    for f in files {
        match load_stack(&f) {
            Ok(s) => stacks.push(s),
            Err(Invalid(d)) => {
                broken.push(name_of_broken(&f));
                diags.extend(d)
            }
        }
    }
    for s in &stacks {
        diags.extend(check_stack_refs(s, &stacks, &broken));
    }
    if diags.is_empty() {
        diags.extend(choices::check_across(&stacks));
    }
    for (i, s) in stacks.iter().enumerate() {
        if stacks[..i].iter().any(|o| o.tutorial == s.tutorial || o.name == s.name) {
            diags.push(Diagnostic {
                file: s.file.clone(),
                line: Some(1),
                message: format!(
                    "stack `{}` (tutorial {}) has the name or number of another stack",
                    s.name, s.tutorial
                ),
                hint: "give every stack file its own name and tutorial number".into(),
            });
        }
    }
    if diags.is_empty() {
        Ok(stacks)
    } else {
        Err(Invalid(diags))
    }
}

/// References from `stack` to other stacks: the stack, resource and attribute exist, and the
/// stack referenced is an earlier tutorial (so stacks never depend on each other in a cycle).
/// The name of a stack whose file failed to load: its `name:` if the YAML reads at all, else its
/// file name without the tutorial number (`02-structured-rls.yaml`: `structured-rls`).
fn name_of_broken(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let named = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text)
        .ok()
        .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string));
    named.unwrap_or_else(|| {
        let stem = file.file_stem().unwrap_or_default().to_string_lossy();
        stem.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-').to_string()
    })
}

fn check_stack_refs(stack: &Stack, stacks: &[Stack], broken: &[String]) -> Vec<Diagnostic> {
    let source = std::fs::read_to_string(&stack.file).unwrap_or_default();
    let mut diags = Vec::new();
    let mut unchecked: Vec<&str> = Vec::new();
    for r in &stack.resources {
        for reference in &r.refs {
            let Some(name) = &reference.stack else {
                continue;
            };
            if broken.contains(name) {
                // Its file's own errors are reported; one line here, not one per reference.
                if !unchecked.contains(&name.as_str()) {
                    unchecked.push(name);
                    diags.push(Diagnostic {
                        file: stack.file.clone(),
                        line: line_of_text(&source, &reference.to_string()).or(Some(r.line)),
                        message: format!(
                            "not checked: stack `{}` builds on `{name}`, whose file has errors (above)",
                            stack.name
                        ),
                        hint: format!("fix `{name}`'s file first; then this one is checked against it"),
                    });
                }
                continue;
            }
            let line = line_of_text(&source, &reference.to_string()).or(Some(r.line));
            let diag = |message: String, hint: String| Diagnostic {
                file: stack.file.clone(),
                line,
                message: format!("resource `{}`: {message}", r.id),
                hint,
            };
            let Some(other) = stacks.iter().find(|s| &s.name == name) else {
                let known: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
                diags.push(diag(
                    format!("`{reference}` names the stack `{name}`, which does not exist"),
                    format!("use one of: {}", known.join(", ")),
                ));
                continue;
            };
            if other.tutorial >= stack.tutorial {
                diags.push(diag(
                    format!(
                        "`{reference}` refers to tutorial {}, which is not an earlier tutorial than {}",
                        other.tutorial, stack.tutorial
                    ),
                    "a stack may build only on stacks with a lower tutorial number".into(),
                ));
                continue;
            }
            let holder = format!("stack `{name}`");
            let what = format!("`{reference}`");
            if let Some((message, hint)) = unresolved(reference, &other.resources, &what, &holder) {
                diags.push(diag(message, hint));
            }
        }
    }
    diags
}

/// `selected` and, before them, every stack they build on (transitively), in tutorial order.
pub fn with_required<'a>(all: &'a [Stack], selected: &[&'a Stack]) -> Vec<&'a Stack> {
    let mut names: Vec<&str> = selected.iter().map(|s| s.name.as_str()).collect();
    let mut i = 0;
    while i < names.len() {
        let stack = all.iter().find(|s| s.name == names[i]);
        for required in stack.map(Stack::requires).unwrap_or_default() {
            if !names.contains(&required) {
                names.push(required);
            }
        }
        i += 1;
    }
    let mut out: Vec<&Stack> = all.iter().filter(|s| names.contains(&s.name.as_str())).collect();
    out.sort_by_key(|s| s.tutorial);
    out
}

/// The stacks of `all` outside `selected` that build on one of `selected` (transitively).
pub fn dependents<'a>(all: &'a [Stack], selected: &[&Stack]) -> Vec<&'a Stack> {
    all.iter()
        .filter(|s| !selected.iter().any(|x| x.name == s.name))
        .filter(|s| {
            with_required(all, &[*s]).iter().any(|r| selected.iter().any(|x| x.name == r.name))
        })
        .collect()
}

/// Checks what the stacks point at on disk (documents, their metadata sidecars), before any API
/// call. `root` is where relative paths in properties start.
pub fn check_files(stacks: &[&Stack], root: &Path) -> Result<(), Invalid> {
    let mut diags = Vec::new();
    for s in stacks {
        for r in &s.resources {
            for message in kinds::check_files(r.kind, &r.properties, root) {
                diags.push(Diagnostic {
                    file: s.file.clone(),
                    line: Some(r.line),
                    message: format!("resource `{}`: {message}", r.id),
                    hint: "fix the file named, or the resource's properties".into(),
                });
            }
        }
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(Invalid(diags))
    }
}

/// Picks stacks by `--tutorial`: a number, a stack name, or `all`.
pub fn select<'a>(stacks: &'a [Stack], which: &str) -> Result<Vec<&'a Stack>, String> {
    if which == "all" {
        return Ok(stacks.iter().collect());
    }
    // One tutorial, or several separated by commas (`1,2`), by number or name.
    let mut found: Vec<&Stack> = Vec::new();
    for one in which.split(',').map(str::trim) {
        let matched: Vec<&Stack> = stacks
            .iter()
            .filter(|s| s.name == one || one.parse::<u8>().is_ok_and(|n| n == s.tutorial))
            .collect();
        if matched.is_empty() {
            let known: Vec<String> = stacks.iter().map(|s| s.label()).collect();
            return Err(format!(
                "no stack matches --tutorial {one}; known: {}, or all (several: 1,2)",
                known.join(", ")
            ));
        }
        for m in matched {
            if !found.iter().any(|f| f.name == m.name) {
                found.push(m);
            }
        }
    }
    found.sort_by_key(|s| s.tutorial);
    Ok(found)
}

#[cfg(test)]
mod tests;
