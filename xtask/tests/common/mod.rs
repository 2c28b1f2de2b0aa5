//! What the integration tests share: running the provisioner against a local cloud of their own
//! (started in a temporary state directory, stopped by pid when the test ends) and looking into
//! the emulators directly (`emulator.py`, boto3) rather than asking the provisioner.
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The venv is shared by every test (installed once, under a lock).
pub fn venv() -> PathBuf {
    std::env::var_os("XTASK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".xtask/venv"))
}

pub fn run(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("XTASK_STATE_DIR", state)
        .env("XTASK_VENV", venv())
        .env_remove("XTASK_ENV")
        .env_remove("XTASK_TARGET")
        .output()
        .unwrap()
}

/// The NDJSON events of a run; the first must be the version line.
pub fn events(out: &Output) -> Vec<Value> {
    let text = String::from_utf8_lossy(&out.stdout);
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(
        events.first().map(|e| e["type"].clone()),
        Some("version".into()),
        "first line must be the version"
    );
    events
}

pub fn summary(events: &[Value]) -> &Value {
    let last = events.last().unwrap();
    assert_eq!(last["type"], "summary");
    last
}

pub fn event<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no event for {id}"))
}

pub fn empty_inventory() -> Value {
    serde_json::json!({"user_pools": [], "secrets": [], "buckets": []})
}

pub struct Cloud {
    pub state: tempfile::TempDir,
    pub endpoints: Value,
}

impl Cloud {
    pub fn up() -> Cloud {
        Cloud::up_with(tempfile::tempdir().unwrap(), &[])
    }

    /// A local cloud in `state`, started with these environment variables.
    pub fn up_with(state: tempfile::TempDir, env: &[(&str, &str)]) -> Cloud {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["local", "up", "--output-format", "json"])
            .env("XTASK_STATE_DIR", state.path())
            .env("XTASK_VENV", venv())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "local up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let endpoints = events(&out)
            .into_iter()
            .find(|e| e["type"] == "local")
            .expect("a local event")["endpoints"]
            .clone();
        Cloud { state, endpoints }
    }

    pub fn endpoint(&self, name: &str) -> &str {
        self.endpoints[name].as_str().unwrap()
    }

    pub fn xtask(&self, args: &[&str]) -> Output {
        run(self.state.path(), args)
    }

    /// Runs with JSON output, expects success, returns the events.
    pub fn ok(&self, args: &[&str]) -> Vec<Value> {
        let mut full = args.to_vec();
        full.extend(["--output-format", "json"]);
        let out = self.xtask(&full);
        assert!(
            out.status.success(),
            "{args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        events(&out)
    }

    /// Runs a helper script of `xtask/tests` with the venv's Python; its stdout is JSON.
    pub fn script(&self, script: &str, args: &[&str]) -> Value {
        let out = Command::new(venv().join("bin/python"))
            .arg(root().join("xtask/tests").join(script))
            .args(args)
            .env("MOTO_URL", self.endpoint("moto"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn emulator(&self, command: &str, arg: &str) -> Value {
        self.script("emulator.py", &[self.endpoint("ministack"), command, arg])
    }

    /// Everything of environment `env` the emulators hold.
    pub fn inventory(&self, env: &str) -> Value {
        self.emulator("inventory", &format!("agentcore-mt-{env}-"))
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = run(self.state.path(), &["local", "down"]);
    }
}

/// A copy of a stack file with `from` replaced by `to`, in a directory of its own.
pub fn stack_copy(file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("stacks").join(file)).unwrap();
    assert!(text.contains(from), "{file} holds no `{from}`");
    std::fs::write(dir.path().join(file), text.replace(from, to)).unwrap();
    dir
}
