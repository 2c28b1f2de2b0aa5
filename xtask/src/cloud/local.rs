//! The local cloud: ministack (most services), moto (S3 Vectors) and the project's own RDS Data
//! API (`local-cloud/data_api.py`), which runs one real PostgreSQL server per Aurora cluster,
//! all on 127.0.0.1, in a Python venv and data directories under the state directory.
//! Processes are tracked by pid file and stopped by pid, never by name.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

pub const REGION: &str = "us-east-1";
/// Both emulators use this account, so that ARNs agree between them.
pub const ACCOUNT: &str = "000000000000";

const REQUIREMENTS: &str = include_str!("../../local-cloud/requirements.txt");
const DATA_API: &str = include_str!("../../local-cloud/data_api.py");
const DB_GATEWAY: &str = include_str!("../../local-cloud/db_gateway.py");
const MINISTACK_LAUNCHER: &str = include_str!("../../local-cloud/ministack_launcher.py");
const MOTO_LAUNCHER: &str = include_str!("../../local-cloud/moto_launcher.py");
const RUNTIME_HOST: &str = include_str!("../../local-cloud/runtime_host.py");
const LOCAL_COMMON: &str = include_str!("../../local-cloud/local_common.py");
const AGENTCORE_CONTROL: &str = include_str!("../../local-cloud/agentcore_control.py");
const CEDAR_GATEWAY: &str = include_str!("../../local-cloud/cedar_gateway.py");
/// The agents' token checks: the runtime host uses their JWKS cache (`agent_tokens.py` beside it).
const AGENT_TOKENS: &str = include_str!("../../../agents/common/agent_common/tokens.py");

/// Where the local cloud lives.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The venv with the pinned emulators; shared by every state directory.
    pub venv: PathBuf,
    /// Pid files, logs, data: one local cloud per state directory.
    pub dir: PathBuf,
}

impl Paths {
    pub fn new(state_dir: &Path) -> Paths {
        let venv = std::env::var_os("XTASK_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| state_dir.join("venv"));
        Paths { venv, dir: state_dir.join("local") }
    }
    fn state_file(&self) -> PathBuf {
        self.dir.join("endpoints.json")
    }
}

/// The running local cloud's endpoints and processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoints {
    pub ministack: String,
    pub moto: String,
    /// The RDS Data API (`AWS_ENDPOINT_URL_RDS_DATA` for clients).
    pub data_api: String,
    /// The AgentCore Runtime invocation URL's stand-in (`runtime_host.py`).
    pub runtime_host: String,
    pub ministack_pid: u32,
    pub moto_pid: u32,
    pub data_api_pid: u32,
    pub runtime_host_pid: u32,
    /// The stand-in of Aurora's internet access gateway (`db_gateway.py`, in the data-api
    /// process): `127.0.0.1:<port>`; empty for a local cloud started before it existed.
    #[serde(default)]
    pub database_gateway: String,
}

impl Endpoints {
    /// Where the database gateway listens and its CA, if this local cloud has one.
    pub fn database_gateway(&self, paths: &Paths) -> Option<super::postgres::Gateway> {
        let addr: std::net::SocketAddr = self.database_gateway.parse().ok()?;
        Some(super::postgres::Gateway {
            dial: (addr.ip(), addr.port()),
            ca: paths.dir.join("gateway").join("ca.pem"),
        })
    }
}

/// Creates the venv and installs the pinned packages, once (a lock keeps concurrent callers
/// from doing it twice).
pub fn install(paths: &Paths, progress: &dyn Fn(&str)) -> Result<()> {
    let stamp = paths.venv.join("requirements.installed");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == REQUIREMENTS) {
        return Ok(());
    }
    std::fs::create_dir_all(paths.venv.parent().unwrap_or(Path::new(".")))?;
    let lock_path = paths.venv.with_extension("lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    lock.lock()?;
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == REQUIREMENTS) {
        return Ok(());
    }
    let python = which("python3").context(
        "python3 was not found: the local cloud runs Python emulators\n  hint: install Python 3.10 or newer \
         with venv and pip (Debian/Ubuntu: apt-get install python3 python3-venv python3-pip)",
    )?;
    progress("creating the Python venv for the local cloud");
    run(Command::new(&python).args(["-m", "venv"]).arg(&paths.venv), "python3 -m venv")
        .context("hint: install the venv module (Debian/Ubuntu: apt-get install python3-venv)")?;
    let req = paths.venv.join("requirements.txt");
    std::fs::write(&req, REQUIREMENTS)?;
    progress("installing ministack and moto (pinned) into the venv");
    run(
        Command::new(paths.venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&req),
        "pip install",
    )?;
    std::fs::write(&stamp, REQUIREMENTS)?;
    Ok(())
}

/// Held while the local cloud is started or stopped: two commands at once would otherwise each
/// start one, the second stopping the first's half-started processes on its way.
fn exclusive(paths: &Paths, progress: &dyn Fn(&str)) -> Result<std::fs::File> {
    std::fs::create_dir_all(&paths.dir)?;
    let path = paths.dir.join("start.lock");
    let lock = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    if lock.try_lock().is_err() {
        progress("waiting for another command that is starting or stopping the local cloud");
        lock.lock()?;
    }
    Ok(lock)
}

/// Starts whatever is not running yet and returns the endpoints.
pub fn up(paths: &Paths, progress: &dyn Fn(&str)) -> Result<Endpoints> {
    let _started_by_one = exclusive(paths, progress)?;
    if let Some(e) = running(paths) {
        // Ours and alive but maybe slow to answer (a busy machine): wait for it. Starting anew
        // would throw away everything deployed on it, for one late answer.
        if !health(&e).iter().all(|(_, ok)| *ok) {
            progress("waiting for the local cloud to answer");
            wait_healthy(&e, &paths.dir.join("logs")).context(
                "`cargo xtask local down` stops it (what is deployed on it goes with it); \
                 then run this again",
            )?;
        }
        return Ok(e);
    }
    // A free port can be taken by another process between our look and the server's bind (many
    // local clouds start at once in the tests): start again on new ports.
    let mut attempt = 1;
    loop {
        match start(paths, progress) {
            Ok(e) => return Ok(e),
            Err(e) if attempt < 3 => {
                progress(&format!("start-up failed ({e:#}); trying again on other ports"));
                attempt += 1;
            }
            Err(e) => {
                let _ = stop(paths);
                return Err(e);
            }
        }
    }
}

fn start(paths: &Paths, progress: &dyn Fn(&str)) -> Result<Endpoints> {
    install(paths, progress)?;
    stop(paths)?; // a half-started cloud from a killed run
    std::fs::create_dir_all(&paths.dir)?;
    let pg = Postgres::find()?;
    let logs = paths.dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    // Private: the emulators' signing keys, secrets' and the agents' files are in here. Only
    // traversable by others where PostgreSQL runs as the `postgres` user and must reach its
    // cluster directories (which it then owns, 0700).
    let mode = if pg.owner.is_some() { 0o711 } else { 0o700 };
    std::fs::set_permissions(&paths.dir, std::fs::Permissions::from_mode(mode))?;
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o700))?;
    // What all four servers share (the origin and request-shape checks among it), beside them:
    // before the first starts.
    std::fs::write(paths.dir.join("local_common.py"), LOCAL_COMMON)?;
    // AgentCore Gateway and Policy's control plane (ministack has none) and the Cedar decision.
    std::fs::write(paths.dir.join("agentcore_control.py"), AGENTCORE_CONTROL)?;
    std::fs::write(paths.dir.join("cedar_gateway.py"), CEDAR_GATEWAY)?;

    progress("starting ministack");
    let ms_state = paths.dir.join("ministack-state");
    std::fs::create_dir_all(&ms_state)?;
    // The Data API's port, chosen now: ministack's Lambda functions (tutorial 4's tools) inherit
    // its environment, and reach the Data API through AWS_ENDPOINT_URL_RDS_DATA.
    let api_port = free_port()?;
    let (ms_port, ms_pid) =
        launch(paths, "ministack", ("ministack_launcher.py", MINISTACK_LAUNCHER), |c, port| {
            c.env("BIND_HOST", "127.0.0.1")
                .env("AWS_ENDPOINT_URL_RDS_DATA", format!("http://127.0.0.1:{api_port}"))
                .env("GATEWAY_PORT", port.to_string())
                .env("STATE_DIR", &ms_state)
                .env("MINISTACK_ACCOUNT_ID", ACCOUNT)
                .env("MINISTACK_REGION", REGION)
                // ministack otherwise opens an IoT MQTT listener on 0.0.0.0:8883 (a fixed port, on
                // every interface) and may open an SFTP one: nothing here uses them.
                .env("IOT_MTLS_ENABLED", "0")
                .env("SFTP_ENABLED", "0");
        })?;
    let ministack = format!("http://127.0.0.1:{ms_port}");

    progress("starting moto (S3 Vectors)");
    let (moto_port, moto_pid) =
        launch(paths, "moto", ("moto_launcher.py", MOTO_LAUNCHER), |c, port| {
            c.args(["-H", "127.0.0.1", "-p", &port.to_string()]).env("MOTO_ACCOUNT_ID", ACCOUNT);
        })?;

    progress("starting the local RDS Data API");
    let clusters = paths.dir.join("clusters");
    pg.prepare(&clusters)?;
    std::fs::write(paths.dir.join("db_gateway.py"), DB_GATEWAY)?;
    let gateway_port = free_port()?;
    let (api_port, api_pid) =
        launch_on(api_port, paths, "data-api", ("data_api.py", DATA_API), |c, port| {
            c.env("MINISTACK_URL", &ministack)
                .env("GATEWAY_PORT", gateway_port.to_string())
                .env("DATA_API_PORT", port.to_string())
                .env("CLUSTERS_DIR", &clusters)
                .env("PG_BIN", &pg.bin)
                .env("PG_WRAP", pg.wrap.join(" "))
                .env("PG_OWNER", pg.owner.clone().unwrap_or_default());
        })?;

    progress("starting the local AgentCore Runtime host");
    std::fs::write(paths.dir.join("agent_tokens.py"), AGENT_TOKENS)?;
    let (host_port, host_pid) =
        launch(paths, "runtime-host", ("runtime_host.py", RUNTIME_HOST), |c, port| {
            c.env("MINISTACK_URL", &ministack)
                .env("DATA_API_URL", format!("http://127.0.0.1:{api_port}"))
                .env("RUNTIME_HOST_PORT", port.to_string())
                .env("RUNTIMES_DIR", paths.dir.join("runtimes"));
        })?;

    let e = Endpoints {
        ministack,
        moto: format!("http://127.0.0.1:{moto_port}"),
        data_api: format!("http://127.0.0.1:{api_port}"),
        runtime_host: format!("http://127.0.0.1:{host_port}"),
        ministack_pid: ms_pid,
        moto_pid,
        data_api_pid: api_pid,
        runtime_host_pid: host_pid,
        database_gateway: format!("127.0.0.1:{gateway_port}"),
    };
    progress("waiting for the local cloud to answer");
    wait_healthy(&e, &logs)?;
    std::fs::write(paths.state_file(), serde_json::to_string_pretty(&e)?)?;
    Ok(e)
}

/// The endpoints if every process is alive and still holds its port, answering or not (see
/// `health`).
pub fn running(paths: &Paths) -> Option<Endpoints> {
    recorded(paths).filter(|e| unusable(e).is_none())
}

/// Why the local cloud recorded in the state directory can no longer be used, if one is
/// recorded and cannot: the next start replaces it with a new, empty one.
pub fn gone(paths: &Paths) -> Option<String> {
    recorded(paths).and_then(|e| unusable(&e))
}

/// The local cloud the last start recorded, whatever became of it.
fn recorded(paths: &Paths) -> Option<Endpoints> {
    serde_json::from_str(&std::fs::read_to_string(paths.state_file()).ok()?).ok()
}

/// The first part that has exited or no longer holds its port.
fn unusable(e: &Endpoints) -> Option<String> {
    parts(e).iter().find_map(|(pid, name, url)| {
        if !pid_alive(*pid) {
            Some(format!("its {name} (pid {pid}) has exited"))
        } else if !owns_listener(*pid, url) {
            Some(format!("its {name} (pid {pid}) no longer listens on {url}"))
        } else {
            None
        }
    })
}

/// Each process: its pid, name and URL.
fn parts(e: &Endpoints) -> [(u32, &'static str, &String); 4] {
    [
        (e.ministack_pid, "ministack", &e.ministack),
        (e.moto_pid, "moto", &e.moto),
        (e.data_api_pid, "data-api", &e.data_api),
        (e.runtime_host_pid, "runtime-host", &e.runtime_host),
    ]
}

/// Each part and whether it answers.
pub fn health(e: &Endpoints) -> Vec<(&'static str, bool)> {
    vec![
        ("ministack", http_ok(&e.ministack, "/_ministack/health")),
        ("moto", http_ok(&e.moto, "/moto-api/")),
        ("data-api", http_ok(&e.data_api, "/")),
        ("runtime-host", http_ok(&e.runtime_host, "/health")),
    ]
}

fn wait_healthy(e: &Endpoints, logs: &Path) -> Result<()> {
    let start = Instant::now();
    loop {
        let h = health(e);
        if h.iter().all(|(_, ok)| *ok) {
            // An answer is not proof: another process may have taken a port between our look
            // and the server's bind, and answer in its place.
            for (pid, name, url) in parts(e) {
                if !owns_listener(pid, url) {
                    bail!("{url} answers, but not from our {name} (pid {pid}): another process took the port");
                }
            }
            return Ok(());
        }
        for (pid, name, _) in parts(e) {
            if !pid_alive(pid) {
                bail!("{name} exited; see {}", logs.join(format!("{name}.log")).display());
            }
        }
        if start.elapsed() > Duration::from_secs(90) {
            let down: Vec<_> = h.iter().filter(|(_, ok)| !ok).map(|(n, _)| *n).collect();
            bail!(
                "the local cloud did not answer within 90 s ({}); logs are in {}",
                down.join(", "),
                logs.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops every process of this local cloud by its pid. Its state (held in memory by the
/// emulators) goes with it.
pub fn down(paths: &Paths) -> Result<bool> {
    if !paths.dir.exists() {
        return Ok(false);
    }
    let _stopped_by_one = exclusive(paths, &|_| ())?;
    stop(paths)
}

/// `down`, for a caller that holds the lock.
fn stop(paths: &Paths) -> Result<bool> {
    let mut stopped = false;
    // The runtime host first (it stops the agents it started), then the Data API (it stops the
    // PostgreSQL servers of its clusters on the way out).
    for name in ["runtime-host", "data-api", "ministack", "moto"] {
        let pid_file = paths.dir.join(format!("{name}.pid"));
        if let Some(pid) =
            std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse::<u32>().ok())
        {
            stopped |= stop_pid(pid);
        }
        let _ = std::fs::remove_file(pid_file);
    }
    // Servers left behind by a Data API that was killed outright.
    let clusters = paths.dir.join("clusters");
    if let (Ok(entries), Ok(pg)) = (std::fs::read_dir(&clusters), Postgres::find()) {
        for dir in entries.flatten().map(|e| e.path()).filter(|p| p.join("postmaster.pid").exists())
        {
            pg.stop(&dir);
            stopped = true;
        }
    }
    let _ = std::fs::remove_file(paths.state_file());
    // The emulators keep their state in memory: a new start is a new, empty cloud, and so is
    // the database, so that no stale rows outlive the resources they belonged to.
    let _ = std::fs::remove_dir_all(&clusters);
    let _ = std::fs::remove_dir_all(paths.dir.join("ministack-state"));
    Ok(stopped)
}

/// Starts one of the local cloud's Python processes on a free port: `script` (file name and
/// text; never a package's name, which it would shadow) is written into the state directory and
/// run with the venv's Python, `configure` adds its arguments and environment; its log and pid
/// file are named after it.
fn launch(
    paths: &Paths,
    name: &str,
    script: (&str, &str),
    configure: impl FnOnce(&mut Command, u16),
) -> Result<(u16, u32)> {
    launch_on(free_port()?, paths, name, script, configure)
}

/// `launch` on a port chosen before.
fn launch_on(
    port: u16,
    paths: &Paths,
    name: &str,
    (file, script): (&str, &str),
    configure: impl FnOnce(&mut Command, u16),
) -> Result<(u16, u32)> {
    let file = paths.dir.join(file);
    std::fs::write(&file, script)?;
    let mut cmd = Command::new(paths.venv.join("bin/python"));
    cmd.arg(&file);
    configure(&mut cmd, port);
    let pid = spawn(cmd, &paths.dir.join("logs").join(format!("{name}.log")))?;
    std::fs::write(paths.dir.join(format!("{name}.pid")), pid.to_string())?;
    Ok((port, pid))
}

fn spawn(mut cmd: Command, log: &Path) -> Result<u32> {
    use std::os::unix::process::CommandExt;
    let out = std::fs::File::create(log)?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0) // not killed with the terminal's Ctrl-C: it outlives this command
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    Ok(child.id())
}

fn stop_pid(pid: u32) -> bool {
    if !pid_alive(pid) {
        return false;
    }
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let start = Instant::now();
    while pid_alive(pid) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if pid_alive(pid) {
        let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
    }
    // Reap it if it was our child (it is not, after the command that started it exited).
    true
}

pub fn pid_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state letter is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether process `pid` holds the socket listening on `url`'s port (Linux `/proc`; true where
/// there is no `/proc` to ask).
fn owns_listener(pid: u32, url: &str) -> bool {
    let port = url.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return !Path::new("/proc/net/tcp").exists();
    };
    let sockets: Vec<String> = fds
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|l| l.to_str().map(str::to_string))
        .collect();
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(t).ok())
        .flat_map(|t| t.lines().skip(1).map(str::to_string).collect::<Vec<_>>())
        .any(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.len() > 9
                && f[3] == "0A"
                && f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok())
                    == Some(port)
                && sockets.contains(&format!("socket:[{}]", f[9]))
        })
}

fn http_ok(base: &str, path: &str) -> bool {
    let Some(addr) = base.strip_prefix("http://") else {
        return false;
    };
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").is_err() {
        return false;
    }
    // Read the whole answer: a server whose reply is cut off logs an error.
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf);
    head.starts_with("HTTP/1.") && head.get(9..10) == Some("2")
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// The PostgreSQL server binaries. PostgreSQL refuses to run as root; as root they run in a
/// user namespace of their own (`unshare --user`, root mapped to an unprivileged id), which
/// changes nothing on the machine: the data stays root's, in the state directory. Where user
/// namespaces are not allowed, as the `postgres` user, which must be able to reach the state
/// directory already (no permission outside it is ever changed).
struct Postgres {
    bin: PathBuf,
    /// The command the server's tools run under (empty when we are not root).
    wrap: Vec<String>,
    /// The user that must own the data directories (the `runuser` fallback only).
    owner: Option<String>,
}

const UNSHARE: &[&str] = &["unshare", "--user", "--map-user=1000", "--map-group=1000"];

impl Postgres {
    fn find() -> Result<Postgres> {
        let bin = which("pg_ctl")
            .and_then(|p| p.canonicalize().ok())
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .or_else(|| {
                let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                    .ok()?
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .collect();
                dirs.sort();
                dirs.pop()
            });
        let Some(bin) = bin.filter(|b| b.join("initdb").exists()) else {
            bail!(
                "PostgreSQL server binaries (initdb, pg_ctl) were not found: the local cloud runs a real PostgreSQL server\n  \
                 hint: install them (Debian/Ubuntu: apt-get install postgresql) or put their directory on PATH"
            );
        };
        if !is_root() {
            return Ok(Postgres { bin, wrap: vec![], owner: None });
        }
        let quiet = |c: &mut Command| {
            c.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
        };
        if quiet(Command::new(UNSHARE[0]).args(&UNSHARE[1..]).arg("true")) {
            let wrap = UNSHARE.iter().map(|s| s.to_string()).collect();
            return Ok(Postgres { bin, wrap, owner: None });
        }
        if !quiet(Command::new("id").arg("postgres")) {
            bail!("running as root, and PostgreSQL will not run as root: user namespaces (unshare --user) are not allowed here and there is no `postgres` user to run it as\n  hint: useradd --system postgres");
        }
        let wrap = ["runuser", "-u", "postgres", "--"].map(String::from).to_vec();
        Ok(Postgres { bin, wrap, owner: Some("postgres".into()) })
    }

    fn command(&self, tool: &str) -> Command {
        match self.wrap.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(self.bin.join(tool));
                c
            }
            None => Command::new(self.bin.join(tool)),
        }
    }

    /// Makes `dir` (where the Data API puts one server per cluster) usable by the server.
    fn prepare(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        if let Some(user) = &self.owner {
            run(Command::new("chown").arg(format!("{user}:{user}")).arg(dir), "chown")?;
            let reachable = Command::new("runuser")
                .args(["-u", user, "--", "test", "-w"])
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success());
            if !reachable {
                bail!(
                    "the `{user}` user cannot reach {} (a directory above it is closed to others), and user namespaces are not allowed here\n  \
                     hint: set XTASK_STATE_DIR to a directory `{user}` can reach, or allow unprivileged user namespaces",
                    dir.display()
                );
            }
        }
        Ok(())
    }

    fn stop(&self, data: &Path) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
