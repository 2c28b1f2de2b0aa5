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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stacks");
    let stacks = super::load_all(&dir).expect("valid");
    assert_eq!(
        stacks.iter().map(|s| s.tutorial).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(super::select(&stacks, "1").unwrap()[0].name == "unstructured-rag");
    assert!(super::select(&stacks, "structured-rls").unwrap()[0].tutorial == 2);
    assert_eq!(super::select(&stacks, "all").unwrap().len(), 2);
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
