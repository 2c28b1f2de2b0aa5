//! Tutorial 1 on the local cloud: the Knowledge Base on S3 Vectors, ingestion as a converging
//! step, and retrieval filtered by each demo user's tier.

mod common;

use std::path::{Path, PathBuf};

use common::{event, root, summary, Cloud};
use serde_json::Value;

#[test]
fn ingestion_converges_and_retrieval_is_filtered_by_tier() {
    let cloud = Cloud::up();
    let docs = tempfile::tempdir().unwrap();
    for entry in walk(&root().join("sample-data/policies")) {
        let rel = entry.strip_prefix(root().join("sample-data/policies")).unwrap();
        std::fs::create_dir_all(docs.path().join(rel).parent().unwrap()).unwrap();
        std::fs::copy(&entry, docs.path().join(rel)).unwrap();
    }
    let stacks = tempfile::tempdir().unwrap();
    let stack = common::stack_text("01-unstructured-rag.yaml").replace(
        &format!("source: {}/sample-data/policies", root().display()),
        &format!("source: {}", docs.path().display()),
    );
    std::fs::write(stacks.path().join("01.yaml"), stack).unwrap();
    let dir = stacks.path().to_str().unwrap();

    let first = cloud.ok(&["deploy", "--stacks-dir", dir]);
    assert_eq!(summary(&first)["counts"]["create"], 20);
    assert_eq!(event(&first, "ingestion")["action"], "create");
    let outputs: Value = serde_json::from_str(
        &std::fs::read_to_string(cloud.state.path().join("outputs/local/dev.json")).unwrap(),
    )
    .unwrap();
    let stats = &outputs["unstructured-rag"]["ingestion"]["statistics"];
    let kb_first = kb_id(&cloud);
    assert_eq!(stats["documents_scanned"], 4, "{stats}");
    assert_eq!(stats["metadata_documents_scanned"], 4, "{stats}");
    assert_eq!(stats["documents_failed"], 0, "{stats}");
    eprintln!("first ingestion: {stats}");

    // The retrieval matrix: each demo user x each question; the tier's own document comes back
    // and the other tier's never does.
    let questions: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("sample-data/questions.json")).unwrap(),
    )
    .unwrap();
    let mut cases = 0;
    for (user, tier, other) in
        [("john-regular", "regular", "platinum"), ("sarah-platinum", "platinum", "regular")]
    {
        for q in questions.as_array().unwrap() {
            let events = cloud.ok(&[
                "retrieve",
                "--stacks-dir",
                dir,
                "--user",
                user,
                q["question"].as_str().unwrap(),
            ]);
            let r = events.iter().find(|e| e["type"] == "retrieval").unwrap();
            assert_eq!(r["tier"], tier);
            let results = r["results"].as_array().unwrap();
            assert!(!results.is_empty(), "{user}: nothing retrieved for {}", q["question"]);
            assert!(
                results.iter().all(|x| x["tier"] == tier),
                "{user} got another tier's document: {results:#?}"
            );
            let top = &results[0];
            let document = format!("{tier}/{}", q["document"].as_str().unwrap());
            assert!(
                top["uri"].as_str().unwrap().ends_with(&document),
                "{user}: top result {} is not {document}",
                top["uri"]
            );
            let answer = q["answers"][tier].as_str().unwrap();
            assert!(
                top["text"].as_str().unwrap().contains(answer),
                "{user}: {answer} not in the top result"
            );
            assert!(!results
                .iter()
                .any(|x| x["uri"].as_str().unwrap().contains(&format!("/{other}/"))));
            cases += 1;
        }
    }
    eprintln!("retrieval matrix: {cases} cases hold");

    // Unchanged documents: no job, no mutating call.
    let again = cloud.ok(&["deploy", "--stacks-dir", dir]);
    assert_eq!(summary(&again)["api_calls"]["mutating"], 0, "{}", summary(&again));
    assert_eq!(event(&again, "ingestion")["action"], "noop");

    // A changed document: exactly one new job (one upload, one StartIngestionJob).
    std::fs::write(
        docs.path().join("regular/auto-insurance.md"),
        std::fs::read_to_string(docs.path().join("regular/auto-insurance.md")).unwrap()
            + "\nUpdated terms apply from January.\n",
    )
    .unwrap();
    let changed = cloud.ok(&["deploy", "--stacks-dir", dir]);
    assert_eq!(event(&changed, "policy_documents")["action"], "update");
    assert_eq!(event(&changed, "ingestion")["action"], "update");
    assert_eq!(
        summary(&changed)["api_calls"]["mutating"],
        2,
        "one upload and one job: {}",
        summary(&changed)
    );
    let settled = cloud.ok(&["deploy", "--stacks-dir", dir]);
    assert_eq!(summary(&settled)["api_calls"]["mutating"], 0);

    // A data source updated in place: UpdateDataSource must send the existing chunking again
    // (AWS refuses one without it; so does the local cloud).
    let file = stacks.path().join("01.yaml");
    let narrowed = std::fs::read_to_string(&file).unwrap().replace(
        "      chunk_max_tokens: 300\n",
        "      chunk_max_tokens: 300\n      inclusion_prefixes: [regular/, platinum/]\n",
    );
    assert!(narrowed.contains("inclusion_prefixes"));
    std::fs::write(&file, narrowed).unwrap();
    let updated = cloud.ok(&["deploy", "--stacks-dir", dir]);
    assert_eq!(event(&updated, "policy_source")["action"], "update");
    let settled = cloud.ok(&["deploy", "--stacks-dir", dir]);
    assert_eq!(summary(&settled)["api_calls"]["mutating"], 0);

    // New chunking replaces the data source, and the replaced one takes its vectors with it:
    // after a change and its revert, each document comes back once, as it is now. The first
    // one was made with RETAIN (as by an earlier version): it is switched to DELETE first.
    assert_eq!(cloud.emulator("retain-data-source", "dev")["policy"], "RETAIN");
    for (from, to) in [("300", "200"), ("200", "300")] {
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace(&format!("chunk_max_tokens: {from}"), &format!("chunk_max_tokens: {to}"));
        std::fs::write(&file, text).unwrap();
        let replaced = cloud.ok(&["deploy", "--stacks-dir", dir]);
        let ds = event(&replaced, "policy_source");
        assert_eq!(ds["replace"], true, "{ds}");
    }
    let events = cloud.ok(&[
        "retrieve",
        "--stacks-dir",
        dir,
        "--user",
        "john-regular",
        "What is the deductible for auto insurance?",
    ]);
    let results = events.iter().find(|e| e["type"] == "retrieval").unwrap()["results"]
        .as_array()
        .unwrap()
        .clone();
    let mut uris: Vec<&str> = results.iter().map(|r| r["uri"].as_str().unwrap()).collect();
    let all = uris.len();
    uris.sort();
    uris.dedup();
    assert_eq!(uris.len(), all, "a document came back more than once: {results:#?}");
    assert!(results[0]["text"].as_str().unwrap().contains("Updated terms apply"), "{results:#?}");

    // Destroy leaves nothing in either emulator; again still succeeds.
    let gone = cloud.ok(&["destroy", "--stacks-dir", dir]);
    assert_eq!(summary(&gone)["counts"]["delete"], 20);
    assert_eq!(
        cloud.inventory("dev"),
        serde_json::json!({"user_pools": [], "secrets": [], "buckets": []})
    );
    let again = cloud.ok(&["destroy", "--stacks-dir", dir]);
    assert_eq!(summary(&again)["api_calls"]["mutating"], 0);

    // Deployed again after the destroy: every create carries a new client token (AWS, like the
    // local cloud, answers a repeated token with the original, now deleted, resource).
    let reborn = cloud.ok(&["deploy", "--stacks-dir", dir]);
    assert_eq!(summary(&reborn)["counts"]["create"], 20, "{}", summary(&reborn));
    let kb_now = kb_id(&cloud);
    assert_ne!(kb_now, kb_first, "the deleted Knowledge Base came back");
    let gone = cloud.ok(&["destroy", "--stacks-dir", dir]);
    assert_eq!(summary(&gone)["counts"]["delete"], 20);
}

/// The Knowledge Base's id, from the outputs the last deploy cached.
fn kb_id(cloud: &Cloud) -> String {
    let outputs: Value = serde_json::from_str(
        &std::fs::read_to_string(cloud.state.path().join("outputs/local/dev.json")).unwrap(),
    )
    .unwrap();
    outputs["unstructured-rag"]["knowledge_base"]["id"].as_str().unwrap().to_string()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
