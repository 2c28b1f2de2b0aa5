//! Validation errors, as a user sees them: data in, snapshot out.

use std::path::Path;

use super::parse_stack;

fn errors(source: &str) -> String {
    match parse_stack(Path::new("stacks/broken.yaml"), source) {
        Ok(_) => "valid".to_string(),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = "name: broken\ntutorial: 9\ndescription: a test\nresources:\n";

#[test]
fn shipped_stacks_are_valid() {
    let dir = crate::workspace().join("stacks");
    let stacks = super::load_all(&dir).expect("valid");
    assert_eq!(stacks.iter().map(|s| s.tutorial).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert!(super::select(&stacks, "1").unwrap()[0].name == "unstructured-rag");
    assert!(super::select(&stacks, "structured-rls").unwrap()[0].tutorial == 2);
    assert_eq!(super::select(&stacks, "all").unwrap().len(), 4);
    // Issue 28 item 11: several at once, by number or name, each once, in tutorial order.
    let two: Vec<u8> =
        super::select(&stacks, "2,1, structured-rls").unwrap().iter().map(|s| s.tutorial).collect();
    assert_eq!(two, [1, 2]);
    assert!(super::select(&stacks, "1,9").unwrap_err().contains("--tutorial 9"));
    insta::assert_snapshot!("unknown_tutorial", super::select(&stacks, "7").unwrap_err());
}

#[test]
fn unknown_property() {
    insta::assert_snapshot!(errors(&format!("{HEAD}  pool:\n    kind: cognito.user_pool\n    properties:\n      password_min_lenght: 12\n")));
}

#[test]
fn unknown_kind() {
    insta::assert_snapshot!(errors(&format!(
        "{HEAD}  pool:\n    kind: cognito.userpool\n    properties: {{}}\n"
    )));
}

#[test]
fn wrong_type() {
    insta::assert_snapshot!(errors(&format!("{HEAD}  pool:\n    kind: cognito.user_pool\n    properties:\n      password_min_length: twelve\n")));
}

#[test]
fn missing_field() {
    insta::assert_snapshot!(errors(&format!(
        "{HEAD}  admins:\n    kind: cognito.group\n    properties:\n      name: admins\n"
    )));
}

#[test]
fn unknown_top_level_field() {
    insta::assert_snapshot!(errors(
        "name: broken\ntutorial: 9\ndescription: x\nregion: eu-west-1\nresources: {}\n"
    ));
}

#[test]
fn malformed_yaml() {
    insta::assert_snapshot!(errors(&format!("{HEAD}  pool:\n    kind: cognito.user_pool\n    properties: {{password_min_length: [12}}\n")));
}

#[test]
fn dangling_reference() {
    insta::assert_snapshot!(errors(&format!(
        "{HEAD}  pool:\n    kind: cognito.user_pool\n    properties: {{}}\n  admins:\n    kind: cognito.group\n    properties:\n      user_pool_id: ${{user_pol.id}}\n      name: admins\n"
    )));
}

#[test]
fn unknown_attribute() {
    insta::assert_snapshot!(errors(&format!(
        "{HEAD}  pool:\n    kind: cognito.user_pool\n    properties: {{}}\n  admins:\n    kind: cognito.group\n    properties:\n      user_pool_id: ${{pool.pool_id}}\n      name: admins\n"
    )));
}

#[test]
fn malformed_reference() {
    insta::assert_snapshot!(errors(&format!(
        "{HEAD}  admins:\n    kind: cognito.group\n    properties:\n      user_pool_id: ${{pool}}\n      name: admins\n"
    )));
}

#[test]
fn cycle() {
    insta::assert_snapshot!(errors(&format!(
        "{HEAD}  a:\n    kind: s3.objects\n    properties:\n      bucket: ${{b.bucket}}\n      source: x\n  b:\n    kind: s3.objects\n    properties:\n      bucket: ${{a.bucket}}\n      source: y\n"
    )));
}

#[test]
fn invalid_resource_id() {
    insta::assert_snapshot!(errors(&format!(
        "{HEAD}  Documents-Bucket:\n    kind: s3.bucket\n    properties: {{}}\n"
    )));
}

#[test]
fn bucket_name_too_long() {
    insta::assert_snapshot!(errors(&format!(
        "{HEAD}  policy_documents_bucket:\n    kind: s3.bucket\n    properties: {{}}\n"
    )));
}

#[test]
fn document_sidecars_are_checked_before_any_call() {
    let docs = tempfile::tempdir().unwrap();
    let d = docs.path();
    std::fs::write(d.join("ok.md"), "fine").unwrap();
    std::fs::write(
        d.join("ok.md.metadata.json"),
        r#"{"metadataAttributes": {"tier": "regular", "year": 2026}}"#,
    )
    .unwrap();
    std::fs::write(d.join("no-sidecar.md"), "x").unwrap();
    std::fs::write(d.join("bad-json.md"), "x").unwrap();
    std::fs::write(d.join("bad-json.md.metadata.json"), "{not json").unwrap();
    std::fs::write(d.join("gold.md"), "x").unwrap();
    std::fs::write(d.join("gold.md.metadata.json"), r#"{"metadataAttributes": {"tier": "gold"}}"#)
        .unwrap();
    std::fs::write(d.join("nested.md"), "x").unwrap();
    std::fs::write(
        d.join("nested.md.metadata.json"),
        r#"{"metadataAttributes": {"tier": {"a": 1}}}"#,
    )
    .unwrap();
    std::fs::write(d.join("huge.md"), "x").unwrap();
    std::fs::write(
        d.join("huge.md.metadata.json"),
        format!(
            r#"{{"metadataAttributes": {{"tier": "regular", "pad": "{}"}}}}"#,
            "x".repeat(11_000)
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("orphan.md.metadata.json"),
        r#"{"metadataAttributes": {"tier": "regular"}}"#,
    )
    .unwrap();
    let source = format!(
        "{HEAD}  docs:\n    kind: s3.objects\n    properties:\n      bucket: b\n      source: {}\n      sidecars:\n        attribute: tier\n        values: [regular, platinum]\n",
        d.display()
    );
    let stack =
        parse_stack(Path::new("stacks/broken.yaml"), &source).expect("the stack itself is valid");
    let err = super::check_files(&[&stack], Path::new("/")).unwrap_err().to_string();
    let mut lines: Vec<String> =
        err.replace(&d.display().to_string(), "<docs>").lines().map(str::to_string).collect();
    lines.sort(); // directory order differs between file systems
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn shipped_sample_data_passes_the_checks() {
    let root = &crate::workspace();
    let stacks = super::load_all(&root.join("stacks")).unwrap();
    let all: Vec<&super::Stack> = stacks.iter().collect();
    super::check_files(&all, root).expect("sample-data is valid");
}

/// The demo users of sample-data/users.json are the ones the stacks declare, with the same
/// group (tutorial 1) or tenant (tutorial 2, as Cognito attribute and in the tenant map).
#[test]
fn stacks_declare_exactly_the_demo_users_of_sample_data() {
    let root = &crate::workspace();
    let users: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("sample-data/users.json")).unwrap(),
    )
    .unwrap();
    let stacks = super::load_all(&root.join("stacks")).unwrap();
    let declared: Vec<(u8, &serde_json::Value)> = stacks
        .iter()
        .flat_map(|s| {
            s.resources
                .iter()
                .filter(|r| r.kind.kind == "cognito.user")
                .map(move |r| (s.tutorial, &r.properties))
        })
        .collect();
    assert_eq!(declared.len(), users.as_array().unwrap().len());
    for u in users.as_array().unwrap() {
        let name = u["username"].as_str().unwrap();
        let (tutorial, props) = declared
            .iter()
            .find(|(_, p)| p["username"] == name)
            .unwrap_or_else(|| panic!("{name} is not in the stacks"));
        assert_eq!(u["tutorial"], serde_json::json!(tutorial), "{name}");
        if let Some(group) = u["group"].as_str() {
            let groups = props["groups"].as_array().unwrap();
            let group_ref = groups[0].as_str().unwrap(); // ${<group resource>.name}
            let stack = stacks.iter().find(|s| s.tutorial == *tutorial).unwrap();
            let id = group_ref.trim_start_matches("${").split('.').next().unwrap();
            let resource = stack.resources.iter().find(|r| r.id == id).unwrap();
            assert_eq!(resource.properties["name"], group, "{name}");
        }
        if let Some(tenant) = u["tenant"].as_str() {
            assert_eq!(props["attributes"]["custom:tenant_id"], tenant, "{name}");
            let stack = stacks.iter().find(|s| s.tutorial == *tutorial).unwrap();
            // Tutorial 4's tools act for a tenant, not a user: its senior broker has no row.
            let Some(map) = stack.resources.iter().find(|r| r.kind.kind == "rdsdata.tenant_users")
            else {
                assert_eq!(*tutorial, 4, "{name}: tutorial {tutorial} has no tenant map");
                continue;
            };
            let id = stack
                .resources
                .iter()
                .find(|r| r.kind.kind == "cognito.user" && r.properties["username"] == name)
                .unwrap()
                .id
                .clone();
            let row = map.properties["users"]
                .as_array()
                .unwrap()
                .iter()
                .find(|row| row["sub"] == format!("${{{id}.sub}}"))
                .unwrap();
            assert_eq!(row["tenant_id"], tenant, "{name}");
        }
    }
}

/// A runtime with these allowed clients and extra property lines.
fn runtime(allowed_clients: &str, extra: &str) -> String {
    format!(
        "{HEAD}  agent:\n    kind: agentcore.runtime\n    properties:\n      role_arn: arn:aws:iam::1:role/r\n      package_bucket: b\n      package_key: k.zip\n      python: \"3.12\"\n      discovery_url: https://cognito-idp.us-east-1.amazonaws.com/p/.well-known/openid-configuration\n      allowed_clients: {allowed_clients}\n      header_allowlist: [Authorization]\n      model_id: {{aws: m, local: offline}}\n{extra}"
    )
}

/// A runtime whose authorizer names no app client would accept every client of the pool.
#[test]
fn runtime_with_no_allowed_client() {
    let text = errors(&runtime("[]", ""));
    assert!(text.contains("stacks/broken.yaml:"), "{text}");
    insta::assert_snapshot!(text);
}

/// The agent's token settings come from the authorizer's properties, never from `environment`.
#[test]
fn runtime_environment_cannot_override_the_token_settings() {
    let text =
        errors(&runtime("[c]", "      environment:\n        AUTH_ALLOWED_CLIENTS: c,attacker\n"));
    assert!(text.contains("AUTH_ALLOWED_CLIENTS"), "{text}");
    insta::assert_snapshot!(text);
    assert_eq!(errors(&runtime("[c]", "")), "valid");
}

/// A runtime's `depends_on` means "ready before the agent serves": every reference in it must be
/// to an attribute its kind only gives once the resource is ready (the ingestion job complete,
/// not merely started; the tenant rows written; the login in place).
#[test]
fn runtimes_depend_on_readiness_not_on_a_start() {
    let dir = crate::workspace().join("stacks");
    let stacks = super::load_all(&dir).expect("valid");
    let mut checked = 0;
    for s in &stacks {
        for r in s.resources.iter().filter(|r| r.kind.kind == "agentcore.runtime") {
            for reference in &r.depends_on {
                let target = stacks
                    .iter()
                    .find(|o| o.name == reference.stack_or(&s.name))
                    .and_then(|o| o.resources.iter().find(|o| o.id == reference.resource))
                    .unwrap();
                let cascading_sql = target.kind.kind.starts_with("rdsdata.");
                assert!(
                    target.kind.ready_attributes.contains(&reference.attribute.as_str())
                        || cascading_sql,
                    "{}: `{}` of {} resolves before the resource is ready",
                    r.id,
                    reference,
                    target.kind.kind
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "{checked}");
}

/// Writes stack files into a new directory and loads them all, as `load_all` does.
fn load_dir(files: &[(&str, &str)]) -> Result<Vec<super::Stack>, String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    super::load_all(dir.path())
        .map_err(|e| e.to_string().replace(&dir.path().display().to_string(), "<dir>"))
}

const BASE: &str = "name: base\ntutorial: 1\ndescription: x\nresources:\n  pool:\n    kind: cognito.user_pool\n    properties: {}\n";

fn on_base(reference: &str) -> String {
    format!("name: top\ntutorial: 2\ndescription: x\nresources:\n  web:\n    kind: cognito.app_client\n    properties:\n      user_pool_id: {reference}\n")
}

#[test]
fn references_to_another_stack() {
    let stacks = load_dir(&[("1.yaml", BASE), ("2.yaml", &on_base("${base.pool.id}"))]).unwrap();
    let top = super::select(&stacks, "top").unwrap();
    assert_eq!(stacks[1].requires(), vec!["base"]);
    let names = |v: Vec<&super::Stack>| v.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(super::with_required(&stacks, &top)), ["base", "top"]);
    let base = super::select(&stacks, "base").unwrap();
    assert_eq!(names(super::with_required(&stacks, &base)), ["base"]);
    assert_eq!(names(super::dependents(&stacks, &base)), ["top"]);
    assert!(super::dependents(&stacks, &top).is_empty());
    // The reference is not an edge inside the stack that makes it.
    assert!(stacks[1].resources[0].dependencies().is_empty());
}

#[test]
fn bad_references_to_another_stack() {
    let cases = [
        on_base("${nowhere.pool.id}"),
        on_base("${base.nothing.id}"),
        on_base("${base.pool.colour}"),
    ];
    let mut report = String::new();
    for c in &cases {
        report.push_str(&load_dir(&[("1.yaml", BASE), ("2.yaml", c)]).unwrap_err());
        report.push_str("\n---\n");
    }
    // A stack may build only on an earlier tutorial: no cycle between stacks.
    let later = BASE.replace("tutorial: 1", "tutorial: 3");
    report.push_str(
        &load_dir(&[("1.yaml", &later), ("2.yaml", &on_base("${base.pool.id}"))]).unwrap_err(),
    );
    insta::assert_snapshot!(report);
}

/// Every runtime's execution role (in its own stack or the one it builds on) may read its agent's
/// package and may not mint workload tokens for a user id of its choosing.
#[test]
fn execution_roles_read_their_package_and_never_mint_tokens_for_any_user() {
    let dir = crate::workspace().join("stacks");
    let stacks = super::load_all(&dir).expect("valid");
    let resource = |stack: &super::Stack, value: &serde_json::Value| {
        let r = super::refs::find_refs(value).unwrap().remove(0);
        let owner = stacks.iter().find(|s| s.name == r.stack_or(&stack.name)).unwrap();
        let found = owner.resources.iter().find(|x| x.id == r.resource).unwrap();
        (owner.name.clone(), found.clone())
    };
    let mut checked = 0;
    for s in &stacks {
        for rt in s.resources.iter().filter(|r| r.kind.kind == "agentcore.runtime") {
            let (_, role) = resource(s, &rt.properties["role_arn"]);
            let (_, package) = resource(s, &rt.properties["package_bucket"]);
            let statements = role.properties["statements"].as_array().unwrap();
            let actions = |effect: &str| -> Vec<(String, String)> {
                statements
                    .iter()
                    .filter(|st| st["Effect"] == effect)
                    .flat_map(|st| {
                        let res = st["Resource"].to_string();
                        st["Action"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(move |a| (a.as_str().unwrap().to_string(), res.clone()))
                    })
                    .collect()
            };
            let allowed = actions("Allow");
            assert!(
                allowed.iter().any(|(a, res)| a == "s3:GetObject"
                    && res.contains(&format!("${{{}.bucket}}", package.id))),
                "{}/{}: its role cannot read {}",
                s.name,
                rt.id,
                package.id
            );
            assert!(!allowed.iter().any(|(a, _)| a.ends_with("ForUserId")), "{}", rt.id);
            assert!(actions("Deny")
                .iter()
                .any(|(a, _)| a == "bedrock-agentcore:GetWorkloadAccessTokenForUserId"));
            checked += 1;
        }
    }
    assert_eq!(checked, 5, "every runtime of tutorials 1 to 4");
}

#[test]
fn cidr_blocks_aws_would_refuse() {
    let vpc = |cidr: &str| {
        errors(&format!(
            "{HEAD}  vpc:\n    kind: ec2.vpc\n    properties:\n      cidr_block: {cidr}\n"
        ))
    };
    assert_eq!(vpc("10.42.0.0/16"), "valid");
    let report = ["10.42.1.0/33", "10.42.1.0/8", "10.42.1.7/24", "10.42.1/24", "10.42.1.0"]
        .map(vpc)
        .join("\n---\n");
    insta::assert_snapshot!(report);
}

#[test]
fn an_empty_stacks_directory_is_an_error() {
    let err = load_dir(&[]).unwrap_err();
    assert!(err.contains("no stack files"), "{err}");
}

#[test]
fn a_misspelt_resource_key_is_named() {
    insta::assert_snapshot!(errors(&format!(
        "{HEAD}  pool:\n    kind: cognito.user_pool\n    propertys: {{}}\n"
    )));
}

/// Every resource's error of a file at once, each at its own line; `depends_on` is a key of the
/// resource (misspelt: named), and each of its entries must be one reference to an attribute.
#[test]
fn every_error_of_a_file_is_reported_at_once() {
    insta::assert_snapshot!(errors(&format!(
        "{HEAD}  pool:\n    kind: cognito.user_pool\n    properties:\n      password_min_lenght: 12\n\
         \x20 regular:\n    kind: cognito.groop\n    properties: {{}}\n\
         \x20 client:\n    kind: cognito.app_client\n    properties:\n      user_pool_id: ${{pool.id}}\n      auth_flows: [ALLOW_USER_SRP_AUTH]\n    depends_onn: [\"${{pool.id}}\"]\n"
    )));
    let waits = |entry: &str| {
        errors(&format!(
            "{HEAD}  pool:\n    kind: cognito.user_pool\n    properties: {{}}\n\
             \x20 client:\n    kind: cognito.app_client\n    properties:\n      user_pool_id: ${{pool.id}}\n      auth_flows: [ALLOW_USER_SRP_AUTH]\n    depends_on: [{entry}]\n"
        ))
    };
    assert_eq!(waits("\"${pool.id}\""), "valid");
    assert!(waits("\"after ${pool.id}\"").contains("each `depends_on` entry is one reference"));
    assert!(waits("\"${pool.nothing}\"").contains("nothing"), "{}", waits("\"${pool.nothing}\""));
}

/// A quote left open on one line is reported there, not where the parser noticed it.
#[test]
fn an_unclosed_quote_is_reported_at_its_line() {
    let source = format!(
        "{HEAD}  pool:\n    kind: cognito.user_pool\n    properties:\n      password_min_length: 12\n\
         \x20 regular:\n    kind: cognito.group\n    properties:\n      user_pool_id: ${{pool.id}}\n      name: regular\n      description: \"Regular tier\n      precedence: 20\n\
         \x20 platinum:\n    kind: cognito.group\n    properties:\n      user_pool_id: ${{pool.id}}\n      name: platinum\n      description: \"Platinum tier\"\n"
    );
    let text = errors(&source);
    assert!(
        text.starts_with(
            "stacks/broken.yaml:14: a quoted string that starts on this line is not closed"
        ),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

/// A relative path in a stack file is relative to the stack file's directory (not to where the
/// command runs, nor to the checkout the binary was built in); inside the workspace it is shown
/// relative to it, so that the shipped stacks' names stay short.
#[test]
fn relative_paths_are_relative_to_the_stack_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("stacks")).unwrap();
    let stack = format!(
        "{HEAD}  bucket:\n    kind: s3.bucket\n    properties: {{}}\n  docs:\n    kind: s3.objects\n    properties:\n      bucket: ${{bucket.name}}\n      source: ../documents/./policies\n"
    );
    std::fs::write(dir.path().join("stacks/9.yaml"), stack).unwrap();
    let stacks = super::load_all(&dir.path().join("stacks")).expect("valid");
    let docs = stacks[0].resources.iter().find(|r| r.id == "docs").unwrap();
    assert_eq!(
        docs.properties["source"],
        dir.path().join("documents/policies").display().to_string()
    );
    let shipped = super::load_all(&crate::workspace().join("stacks")).unwrap();
    let package = shipped[0].resources.iter().find(|r| r.id == "policy_agent_package").unwrap();
    assert_eq!(
        package.properties["sources"],
        serde_json::json!(["agents/policy", "agents/common"])
    );
    assert_eq!(package.properties["requirements"], "agents/requirements.txt");
}

/// One broken stack file is reported once: what builds on it is not checked against it and says
/// so in one line, instead of "the stack does not exist" at every reference.
#[test]
fn a_broken_stack_is_reported_once_and_its_dependents_are_not_blamed() {
    let broken = BASE.replace("properties: {}", "properties: {password_min_lenght: 12}");
    let two_refs = on_base("${base.pool.id}").replace(
        "      user_pool_id: ${base.pool.id}\n",
        "      user_pool_id: ${base.pool.id}\n  web2:\n    kind: cognito.app_client\n    properties:\n      user_pool_id: ${base.pool.id}\n",
    );
    let report = load_dir(&[("01-base.yaml", &broken), ("02-top.yaml", &two_refs)]).unwrap_err();
    assert!(!report.contains("does not exist"), "{report}");
    assert_eq!(report.matches("not checked").count(), 1, "{report}");
    insta::assert_snapshot!(report);
}

/// A misspelt field, resource id or attribute names the closest match first.
#[test]
fn misspellings_name_the_closest_match_first() {
    let field = load_dir(&[(
        "1.yaml",
        &BASE.replace("properties: {}", "properties: {password_min_lenght: 12}"),
    )])
    .unwrap_err();
    assert!(field.contains("(did you mean `password_min_length`?)"), "{field}");
    let id = load_dir(&[("1.yaml", BASE), ("2.yaml", &on_base("${base.pol.id}"))]).unwrap_err();
    assert!(id.contains("did you mean `pool`?"), "{id}");
    let attribute =
        load_dir(&[("1.yaml", BASE), ("2.yaml", &on_base("${base.pool.idd}"))]).unwrap_err();
    assert!(attribute.contains("did you mean `id`?"), "{attribute}");
    // Nothing close: no suggestion.
    assert_eq!(super::closest("zzz", ["pool", "id"]), None);
}
