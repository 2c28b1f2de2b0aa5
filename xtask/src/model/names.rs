//! Deterministic physical names and the rules each service imposes on them.
//!
//! A physical name is derived from (project, env, tutorial, logical id), so deploy and destroy
//! find every resource again without a state file.

pub const PROJECT: &str = "agentcore-mt";
pub const TAG_PREFIX: &str = "agentcore-mt:";

/// How a kind names its resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameStyle {
    /// `agentcore-mt-<env>-t<N>-<logical-id>`, for names unique within an account and region.
    Dashed,
    /// Dashed plus `-<account>`: S3 bucket names are global across all accounts.
    S3Bucket,
    /// `agentcore-mt/<env>/t<N>/<logical-id>`, Secrets Manager's path-like names.
    SecretPath,
    /// `[a-zA-Z][a-zA-Z0-9_]{0,47}`: AgentCore runtime names allow no `-` (the runtime kind
    /// of the agents issue uses it; its rule is tested here already).
    #[allow(dead_code)]
    Underscored,
    /// The name is a property of the resource (a Cognito group `regular`, a user
    /// `john-regular`), unique only inside its parent.
    Property(&'static str),
}

#[derive(Debug, Clone)]
pub struct Naming {
    pub env: String,
    pub tutorial: u8,
    pub account: String,
}

pub fn physical_name(
    style: NameStyle,
    naming: &Naming,
    logical_id: &str,
    properties: &serde_json::Value,
) -> String {
    let logical = logical_id.replace('_', "-");
    let dashed = format!("{PROJECT}-{}-t{}-{logical}", naming.env, naming.tutorial);
    match style {
        NameStyle::Dashed => dashed,
        NameStyle::S3Bucket => format!("{dashed}-{}", naming.account),
        NameStyle::SecretPath => format!("{PROJECT}/{}/t{}/{logical}", naming.env, naming.tutorial),
        NameStyle::Underscored => dashed.replace('-', "_"),
        NameStyle::Property(field) => {
            properties.get(field).and_then(|v| v.as_str()).unwrap_or_default().to_string()
        }
    }
}

/// Fills the environment's placeholders in every string of `value`: `{{account}}`, `{{env}}`
/// and `{{env_}}` (the environment with `_` for `-`, as AgentCore runtime names hold it). For
/// IAM statements and trust conditions that name the environment's own resources
/// (`runtime/agentcore_mt_{{env_}}_t?_*`), which no reference gives before they exist.
pub fn fill_placeholders(value: &mut serde_json::Value, naming: &Naming) {
    match value {
        serde_json::Value::String(s) if s.contains("{{") => {
            *s = s
                .replace("{{account}}", &naming.account)
                .replace("{{env_}}", &naming.env.replace('-', "_"))
                .replace("{{env}}", &naming.env);
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|v| fill_placeholders(v, naming))
        }
        serde_json::Value::Object(map) => {
            map.values_mut().for_each(|v| fill_placeholders(v, naming))
        }
        _ => {}
    }
}

/// Checks a physical name against the service's rules; the error says what is wrong.
pub fn check_physical_name(style: NameStyle, name: &str) -> Result<(), String> {
    match style {
        NameStyle::Dashed | NameStyle::SecretPath | NameStyle::Property(_) => {
            if name.is_empty() || name.len() > 128 {
                return Err(format!("`{name}` must be 1 to 128 characters long"));
            }
            Ok(())
        }
        NameStyle::S3Bucket => check_bucket_name(name),
        NameStyle::Underscored => {
            let ok = name.len() <= 48
                && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "AgentCore runtime name `{name}` ({} characters) must match [a-zA-Z][a-zA-Z0-9_]{{0,47}}",
                    name.len()
                ))
            }
        }
    }
}

fn check_bucket_name(name: &str) -> Result<(), String> {
    if !(3..=63).contains(&name.len()) {
        return Err(format!(
            "S3 bucket name `{name}` is {} characters long; the limit is 3 to 63",
            name.len()
        ));
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.') {
        return Err(format!(
            "S3 bucket name `{name}` may hold only lowercase letters, digits, `-` and `.`"
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Err(format!("S3 bucket name `{name}` must begin and end with a letter or digit"));
    }
    if name.contains("..") {
        return Err(format!("S3 bucket name `{name}` must not hold two adjacent periods"));
    }
    Ok(())
}

/// `--env`: lowercase letters, digits and `-`, starting with a letter, at most 16 characters
/// (the AgentCore runtime name limit of 48 leaves no more room).
pub fn check_env_name(env: &str) -> Result<(), String> {
    let ok = !env.is_empty()
        && env.len() <= 16
        && env.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && !env.ends_with('-')
        // RDS identifiers may not contain two consecutive hyphens (CreateDBCluster).
        && !env.contains("--")
        // A part `t<digit>...` would make names ambiguous: `pr-1-t1`'s tutorial 1 and `pr-1`'s
        // tutorial 1 with a resource id starting `t1_` would share `agentcore-mt-pr-1-t1-t1-...`,
        // and a policy or a reaper scoped to `pr-1` would reach `pr-1-t1`.
        // Nor a part `t` + one character (`tx`): the deploy policy names an environment's
        // resources `agentcore-mt-<env>-t?-*`, which would reach `<env>-tx-...` too.
        && !env.split('-').any(|part| {
            part.starts_with('t')
                && (part.len() == 2 || part[1..].starts_with(|c: char| c.is_ascii_digit()))
        })
        && env
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if env == "locks" || env.starts_with("locks-") {
        // agentcore-mt-locks-<account>-<region> is the lock bucket (lock.rs); a policy scoped
        // to an environment named `locks` would reach every lease.
        return Err(
            format!("the environment name `{env}` is reserved: the lock bucket's name starts `agentcore-mt-locks-`, and a policy scoped to the lock bucket would reach its resources")
        );
    }
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid environment name `{env}`: use 1 to 16 lowercase letters, digits and `-`, \
             starting with a letter, not ending with `-`, without `--` and without a part like `t1` or \
             `tx` (names use `t<N>` for the tutorial), for example `dev` or `pr-42`"
        ))
    }
}

/// Whether `name` is the physical name environment `env` gives the resource `logical_id` in
/// `style` (in some tutorial): with the environment's tags, this is what proves a resource found
/// by its tags is the environment's (tags alone can be put on anything by anyone who may tag).
pub fn is_environments_name(
    style: NameStyle,
    name: &str,
    env: &str,
    logical_id: &str,
    account: &str,
) -> bool {
    if matches!(style, NameStyle::Property(_)) || check_env_name(env).is_err() {
        return false;
    }
    (1..=99).any(|tutorial| {
        let naming = Naming { env: env.to_string(), tutorial, account: account.to_string() };
        physical_name(style, &naming, logical_id, &serde_json::Value::Null) == name
    })
}

/// Logical ids become parts of physical names: lowercase letters, digits and `_`.
pub fn check_logical_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 24
        && id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid resource id `{id}`: use 1 to 24 lowercase letters, digits and `_`, starting with a letter"
        ))
    }
}

/// The ownership tags of a resource (`created-at` is added on create only).
pub fn ownership_tags(
    naming: &Naming,
    stack: &str,
    logical_id: &str,
) -> std::collections::BTreeMap<String, String> {
    [
        ("project", PROJECT),
        ("env", naming.env.as_str()),
        ("stack", stack),
        ("logical-id", logical_id),
    ]
    .into_iter()
    .map(|(k, v)| (format!("{TAG_PREFIX}{k}"), v.to_string()))
    .collect()
}

/// The expiry `deploy --ttl` gives what it creates (`expires-at`, beside `created-at`).
static EXPIRES_AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the expiry of this run's creations to now + `ttl` (once per run).
pub fn set_expiry(ttl: std::time::Duration) {
    let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now() + ttl).to_string();
    let _ = EXPIRES_AT.set(at);
}

/// The tags only a create sets (never compared, never updated): when, and until when.
pub fn creation_tags() -> Vec<(String, String)> {
    let mut tags = vec![created_at_tag()];
    if let Some(at) = EXPIRES_AT.get() {
        tags.push((format!("{TAG_PREFIX}expires-at"), at.clone()));
    }
    tags
}

pub fn created_at_tag() -> (String, String) {
    (
        format!("{TAG_PREFIX}created-at"),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    )
}

/// True when `found` carries every ownership tag in `ours` with the same value.
pub fn is_owned(
    ours: &std::collections::BTreeMap<String, String>,
    found: &std::collections::BTreeMap<String, String>,
) -> bool {
    ours.iter().all(|(k, v)| found.get(k) == Some(v))
}

/// True when `parent` (what a resource without tags lives in: a function's policy statement,
/// a gateway's target, an engine's policy) is this project's and this environment's: it carries
/// every ownership tag in `ours` but its own stack and logical id.
pub fn parent_is_owned(
    ours: &std::collections::BTreeMap<String, String>,
    parent: &std::collections::BTreeMap<String, String>,
) -> bool {
    let own = |k: &str| k == format!("{TAG_PREFIX}stack") || k == format!("{TAG_PREFIX}logical-id");
    ours.iter().filter(|(k, _)| !own(k)).all(|(k, v)| parent.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert!(check_env_name("dev").is_ok());
        assert!(check_env_name("pr-42").is_ok());
        assert!(check_env_name("pr-1-test").is_ok() && check_env_name("test").is_ok());
        for bad in [
            "",
            "Dev",
            "pr_42",
            "-x",
            "x-",
            "a--b",
            "4pr",
            "a-very-long-environment",
            "locks",
            "pr-1-t1",
            "t2",
            "pr-t10x",
            "pr-1-tx",
            "locks-a",
        ] {
            assert!(check_env_name(bad).is_err(), "{bad} accepted");
        }
    }

    /// A name is the environment's only as its naming gives it, in full: a prefix, another
    /// environment's name, another resource id or another account's bucket is not.
    #[test]
    fn names_prove_the_environment_with_the_tags() {
        use NameStyle::*;
        let ours = |style, name: &str| {
            is_environments_name(style, name, "pr-1", "documents", "000000000000")
        };
        assert!(ours(Dashed, "agentcore-mt-pr-1-t1-documents"));
        assert!(ours(S3Bucket, "agentcore-mt-pr-1-t1-documents-000000000000"));
        assert!(ours(SecretPath, "agentcore-mt/pr-1/t2/documents"));
        assert!(ours(Underscored, "agentcore_mt_pr_1_t1_documents"));
        for foreign in [
            "customer-prod-data",
            "agentcore-mt-pr-1-t1-documents-111111111111",
            "agentcore-mt-pr-1-t1-documents-000000000000-x",
            "agentcore-mt-pr-10-t1-documents",
            "agentcore-mt-pr-1-t1-other",
            "agentcore-mt-pr-1-documents",
        ] {
            assert!(!ours(S3Bucket, foreign) && !ours(Dashed, foreign), "{foreign}");
        }
        assert!(!ours(Dashed, "agentcore-mt-pr-1-t1-documents-000000000000"));
        assert!(!is_environments_name(Dashed, "agentcore-mt-pr-1-t1-t1-x", "pr-1-t1", "x", "0"));
    }

    #[test]
    fn bucket_names() {
        assert!(check_physical_name(
            NameStyle::S3Bucket,
            "agentcore-mt-dev-t1-documents-000000000000"
        )
        .is_ok());
        assert!(check_physical_name(NameStyle::S3Bucket, "Upper").is_err());
        assert!(check_physical_name(NameStyle::S3Bucket, &"a".repeat(64)).is_err());
        assert!(check_physical_name(NameStyle::S3Bucket, "a..b").is_err());
        assert!(check_physical_name(NameStyle::S3Bucket, "-ab").is_err());
    }

    #[test]
    fn agentcore_names_map_dashes() {
        let naming = Naming { env: "pr-42".into(), tutorial: 2, account: "0".into() };
        let name = physical_name(
            NameStyle::Underscored,
            &naming,
            "claims_agent",
            &serde_json::Value::Null,
        );
        assert_eq!(name, "agentcore_mt_pr_42_t2_claims_agent");
        assert!(check_physical_name(NameStyle::Underscored, &name).is_ok());
        assert!(check_physical_name(NameStyle::Underscored, &"a".repeat(49)).is_err());
        assert!(check_physical_name(NameStyle::Underscored, "1abc").is_err());
    }
}
