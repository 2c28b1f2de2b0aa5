//! What the integration tests share: running the provisioner against a local cloud of their own
//! (started in a temporary state directory, stopped by pid when the test ends) and looking into
//! the emulators directly (`emulator.py`, boto3) rather than asking the provisioner.
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The checkout under test: the test runner's `CARGO_MANIFEST_DIR` at run time (a build shared
/// between checkouts keeps the path it was compiled at; cargo does not rebuild for a new path).
pub fn root() -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf());
    dir.parent().unwrap().to_path_buf()
}

/// The venv is shared by every test (installed once, under a lock).
pub fn venv() -> PathBuf {
    std::env::var_os("XTASK_VENV").map(PathBuf::from).unwrap_or_else(|| root().join(".xtask/venv"))
}

/// The provisioner with `args`, its state in `state`, the shared venv, no environment or
/// target from the caller's shell.
pub fn xtask(state: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args(args)
        .env("XTASK_STATE_DIR", state)
        .env("XTASK_VENV", venv())
        .env_remove("XTASK_ENV")
        .env_remove("XTASK_TARGET");
    command
}

pub fn run(state: &Path, args: &[&str]) -> Output {
    xtask(state, args).output().unwrap()
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
    events.iter().find(|e| e["id"] == id).unwrap_or_else(|| panic!("no event for {id}"))
}

/// The fields a plan or deploy event changes, in its order.
pub fn changed_fields(event: &Value) -> Vec<&str> {
    event["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["field"].as_str().unwrap())
        .collect()
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
        assert!(out.status.success(), "local up failed: {}", String::from_utf8_lossy(&out.stderr));
        let endpoints =
            events(&out).into_iter().find(|e| e["type"] == "local").expect("a local event")
                ["endpoints"]
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
            .env("DATA_API_URL", self.endpoint("data_api"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn emulator(&self, command: &str, arg: &str) -> Value {
        self.script("emulator.py", &[self.endpoint("ministack"), command, arg])
    }

    /// Deploys `tutorial`, which must fail (exit 1) naming `name` and saying `why`; the stderr.
    pub fn deploy_refused(&self, tutorial: &str, name: &str, why: &str) -> String {
        let out = self.xtask(&["deploy", "--tutorial", tutorial]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(stderr.contains(name) && stderr.contains(why), "{stderr}");
        stderr
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

/// A stack file of the repository with its relative paths (relative to `stacks/`) made
/// absolute, so that a copy of it works from any directory.
pub fn stack_text(file: &str) -> String {
    let r = root().display().to_string();
    std::fs::read_to_string(root().join("stacks").join(file))
        .unwrap()
        .replace(": ../", &format!(": {r}/"))
        .replace("[../", &format!("[{r}/"))
        .replace(", ../", &format!(", {r}/"))
}

/// A copy of a stack file with `from` replaced by `to`, in a directory of its own.
pub fn stack_copy(file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = stack_text(file);
    assert!(text.contains(from), "{file} holds no `{from}`");
    std::fs::write(dir.path().join(file), text.replace(from, to)).unwrap();
    dir
}

impl Cloud {
    /// Every listening TCP socket of the local cloud's processes (the four servers, their
    /// children such as the agents, and the PostgreSQL servers): (pid, local address).
    pub fn listening(&self) -> Vec<(u32, String)> {
        let dir = self.state.path().join("local");
        let mut pids: Vec<u32> = ["ministack", "moto", "data-api", "runtime-host"]
            .iter()
            .filter_map(|n| std::fs::read_to_string(dir.join(format!("{n}.pid"))).ok())
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        for entry in std::fs::read_dir(dir.join("clusters")).into_iter().flatten().flatten() {
            if let Some(pid) = std::fs::read_to_string(entry.path().join("postmaster.pid"))
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
            {
                pids.push(pid);
            }
        }
        // Descendants (agents started by the runtime host, PostgreSQL's own children).
        let parent_of = |pid: u32| -> Option<u32> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
        };
        let all: Vec<u32> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        loop {
            let more: Vec<u32> = all
                .iter()
                .copied()
                .filter(|p| !pids.contains(p) && parent_of(*p).is_some_and(|pp| pids.contains(&pp)))
                .collect();
            if more.is_empty() {
                break;
            }
            pids.extend(more);
        }
        let mut inodes = std::collections::BTreeMap::new();
        for pid in &pids {
            for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten() {
                if let Some(inode) = std::fs::read_link(fd.path()).ok().and_then(|l| {
                    l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_string)
                }) {
                    inodes.insert(inode, *pid);
                }
            }
        }
        let mut out = Vec::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            for line in std::fs::read_to_string(table).unwrap_or_default().lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                // local_address, state (0A = LISTEN), inode
                if f.len() > 9 && f[3] == "0A" {
                    if let Some(pid) = inodes.get(f[9]) {
                        out.push((*pid, f[1].to_string()));
                    }
                }
            }
        }
        out
    }
}

/// Whether a /proc/net/tcp{,6} local address (hex `ADDR:PORT`) is a loopback address.
pub fn is_loopback(hex: &str) -> bool {
    let addr = hex.split(':').next().unwrap_or_default();
    match addr.len() {
        8 => addr.ends_with("7F"), // 127.x.x.x, little-endian
        32 => addr == "00000000000000000000000001000000",
        _ => false,
    }
}

/// Runs the provisioner on `cloud` with its requests recorded into `file` (appended); it must
/// succeed.
pub fn record(cloud: &Cloud, file: &Path, args: &[&str]) {
    let out = xtask(cloud.state.path(), args)
        .args(["--output-format", "json"])
        .env("XTASK_RECORD_REQUESTS", file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The policy `cargo xtask permissions` (these args) grants, as one document. Every tutorial's
/// policy is over a role's inline limit since tutorial 4, so it is written as managed policies
/// (`--parts`); IAM evaluates the policies attached to a role together, so their statements are
/// one document. The boundary (`--boundary`) is printed as it is.
#[allow(dead_code)]
pub fn granted(args: &[&str]) -> serde_json::Value {
    let xtask = env!("CARGO_BIN_EXE_xtask");
    if args.contains(&"--boundary") {
        let out = std::process::Command::new(xtask).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        return serde_json::from_slice(&out.stdout).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(xtask)
        .args(args)
        .args(["--parts", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut files: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "--parts wrote no policy");
    let mut statements = Vec::new();
    for f in files {
        let part: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        statements.extend(part["Statement"].as_array().unwrap().iter().cloned());
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}
