//! The local cloud: ministack (most services), moto (S3 Vectors) and a PostgreSQL server, all
//! on 127.0.0.1, in a Python venv and data directories under the state directory. Processes
//! are tracked by pid file and stopped by pid, never by name.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

pub const REGION: &str = "us-east-1";
/// Both emulators use this account, so that ARNs agree between them.
pub const ACCOUNT: &str = "000000000000";

const REQUIREMENTS: &str = include_str!("../../local-cloud/requirements.txt");

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
        Paths {
            venv,
            dir: state_dir.join("local"),
        }
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
    pub postgres_port: u16,
    pub ministack_pid: u32,
    pub moto_pid: u32,
    pub postgres_pid: u32,
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
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&paths.venv),
        "python3 -m venv",
    )
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

/// Starts whatever is not running yet and returns the endpoints.
pub fn up(paths: &Paths, progress: &dyn Fn(&str)) -> Result<Endpoints> {
    if let Some(e) = running(paths) {
        return Ok(e);
    }
    install(paths, progress)?;
    down(paths)?; // a half-started cloud from a killed run
    std::fs::create_dir_all(&paths.dir)?;
    let pg = Postgres::find()?;
    let logs = paths.dir.join("logs");
    std::fs::create_dir_all(&logs)?;

    progress("starting ministack");
    let ms_port = free_port()?;
    let ms_state = paths.dir.join("ministack-state");
    std::fs::create_dir_all(&ms_state)?;
    let mut ms = Command::new(paths.venv.join("bin/ministack"));
    ms.env("BIND_HOST", "127.0.0.1")
        .env("GATEWAY_PORT", ms_port.to_string())
        .env("STATE_DIR", &ms_state)
        .env("MINISTACK_ACCOUNT_ID", ACCOUNT)
        .env("MINISTACK_REGION", REGION);
    let ms_pid = spawn(ms, &logs.join("ministack.log"))?;
    std::fs::write(paths.dir.join("ministack.pid"), ms_pid.to_string())?;

    progress("starting moto (S3 Vectors)");
    let moto_port = free_port()?;
    let mut moto = Command::new(paths.venv.join("bin/moto_server"));
    moto.args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
        .env("MOTO_ACCOUNT_ID", ACCOUNT);
    let moto_pid = spawn(moto, &logs.join("moto.log"))?;
    std::fs::write(paths.dir.join("moto.pid"), moto_pid.to_string())?;

    progress("starting PostgreSQL");
    let pg_port = free_port()?;
    let pg_pid = pg.start(
        &paths.dir.join("postgres"),
        pg_port,
        &logs.join("postgres.log"),
    )?;

    let e = Endpoints {
        ministack: format!("http://127.0.0.1:{ms_port}"),
        moto: format!("http://127.0.0.1:{moto_port}"),
        postgres_port: pg_port,
        ministack_pid: ms_pid,
        moto_pid,
        postgres_pid: pg_pid,
    };
    progress("waiting for the local cloud to answer");
    wait_healthy(&e, &logs)?;
    std::fs::write(paths.state_file(), serde_json::to_string_pretty(&e)?)?;
    Ok(e)
}

/// The endpoints if every process is alive and answering.
pub fn running(paths: &Paths) -> Option<Endpoints> {
    let e: Endpoints =
        serde_json::from_str(&std::fs::read_to_string(paths.state_file()).ok()?).ok()?;
    let alive = [e.ministack_pid, e.moto_pid, e.postgres_pid]
        .iter()
        .all(|p| pid_alive(*p));
    (alive && health(&e).iter().all(|(_, ok)| *ok)).then_some(e)
}

/// Each part and whether it answers.
pub fn health(e: &Endpoints) -> Vec<(&'static str, bool)> {
    vec![
        ("ministack", http_ok(&e.ministack, "/_ministack/health")),
        ("moto", http_ok(&e.moto, "/moto-api/")),
        (
            "postgres",
            TcpStream::connect(("127.0.0.1", e.postgres_port)).is_ok(),
        ),
    ]
}

fn wait_healthy(e: &Endpoints, logs: &Path) -> Result<()> {
    let start = Instant::now();
    loop {
        let h = health(e);
        if h.iter().all(|(_, ok)| *ok) {
            return Ok(());
        }
        for (pid, name) in [
            (e.ministack_pid, "ministack"),
            (e.moto_pid, "moto"),
            (e.postgres_pid, "postgres"),
        ] {
            if !pid_alive(pid) {
                bail!(
                    "{name} exited during start-up; see {}",
                    logs.join(format!("{name}.log")).display()
                );
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
    let mut stopped = false;
    for name in ["ministack", "moto"] {
        let pid_file = paths.dir.join(format!("{name}.pid"));
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            stopped |= stop_pid(pid);
        }
        let _ = std::fs::remove_file(pid_file);
    }
    let data = paths.dir.join("postgres");
    if data.join("postmaster.pid").exists() {
        if let Ok(pg) = Postgres::find() {
            pg.stop(&data);
            stopped = true;
        }
    }
    let _ = std::fs::remove_file(paths.state_file());
    // The emulators keep their state in memory: a new start is a new, empty cloud, and so is
    // the database, so that no stale rows outlive the resources they belonged to.
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(paths.dir.join("ministack-state"));
    Ok(stopped)
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
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let start = Instant::now();
    while pid_alive(pid) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if pid_alive(pid) {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    }
    // Reap it if it was our child (it is not, after the command that started it exited).
    true
}

pub fn pid_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state letter is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    head.starts_with("HTTP/1.") && head.get(9..10) == Some("2")
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
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

/// The PostgreSQL server binaries, run as the `postgres` user when we are root (PostgreSQL
/// refuses to run as root).
struct Postgres {
    bin: PathBuf,
    run_as: Option<String>,
}

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
        let run_as = if is_root() {
            let ok = Command::new("id")
                .arg("postgres")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                bail!("running as root, and PostgreSQL will not run as root: there is no `postgres` user to run it as\n  hint: useradd --system postgres");
            }
            Some("postgres".to_string())
        } else {
            None
        };
        Ok(Postgres { bin, run_as })
    }

    fn command(&self, tool: &str) -> Command {
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(self.bin.join(tool));
                c
            }
            None => Command::new(self.bin.join(tool)),
        }
    }

    fn start(&self, data: &Path, port: u16, log: &Path) -> Result<u32> {
        if let Some(user) = &self.run_as {
            // The server's user must reach its data directory (temporary directories are 0700).
            let mut dir = data.parent();
            while let Some(d) = dir {
                if d == Path::new("/") {
                    break;
                }
                use std::os::unix::fs::PermissionsExt;
                if let Ok(meta) = std::fs::metadata(d) {
                    let mode = meta.permissions().mode();
                    if mode & 0o001 == 0 {
                        let _ = std::fs::set_permissions(
                            d,
                            std::fs::Permissions::from_mode(mode | 0o001),
                        );
                    }
                }
                dir = d.parent();
            }
            std::fs::create_dir_all(data)?;
            let owner = format!("{user}:{user}");
            run(Command::new("chown").arg(&owner).arg(data), "chown")?;
            std::fs::File::create(log)?;
            run(Command::new("chown").arg(&owner).arg(log), "chown")?;
        } else {
            std::fs::create_dir_all(data)?;
        }
        if !data.join("PG_VERSION").exists() {
            // Trust on a loopback-only, per-user server; the local Data API is the only client
            // that matters and it signs in with the secret's credentials.
            run(
                self.command("initdb")
                    .args([
                        "-U",
                        "postgres",
                        "-A",
                        "trust",
                        "-E",
                        "UTF8",
                        "--no-locale",
                        "-D",
                    ])
                    .arg(data),
                "initdb",
            )?;
        }
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {}",
            data.display()
        );
        run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(data)
                .arg("-l")
                .arg(log)
                .args(["-o", &opts, "-w", "start"]),
            "pg_ctl start",
        )?;
        let pid = std::fs::read_to_string(data.join("postmaster.pid"))?
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .context("postmaster.pid holds no pid")?;
        Ok(pid)
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
