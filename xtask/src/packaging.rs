//! Agent packages for AgentCore direct code deployment: the agent's sources and its vendored
//! dependencies in one zip, built deterministically (sorted entries, fixed timestamps, POSIX
//! permissions), so the same sources give the same bytes and the same content-addressed key.
//!
//! Dependencies are installed with `pip install --no-deps --target` from a fully pinned
//! requirements file, for the platform that will run them: manylinux aarch64 wheels for the
//! runtime's Python on AWS (AgentCore Runtime runs on Graviton), this machine's platform on the
//! local target (where the local runtime host runs the agent). They are cached per (requirements,
//! platform): the cache never changes once written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::cloud::local;

/// AgentCore Runtime's limits for a direct code deployment.
pub const MAX_ZIPPED: u64 = 250 * 1024 * 1024;
pub const MAX_UNZIPPED: u64 = 750 * 1024 * 1024;
/// ELF machine numbers.
const EM_AARCH64: u16 = 183;

/// Who will run the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platform {
    /// This machine (the local runtime host), with the local cloud venv's Python.
    Local,
    /// AgentCore Runtime: Linux on arm64, CPython `python` (e.g. "3.12").
    Aws { python: String },
}

/// What goes into one package, before it is zipped.
#[derive(Debug)]
pub struct Manifest {
    /// Zip entry name -> (file on disk, POSIX mode).
    pub entries: BTreeMap<String, (PathBuf, u32)>,
    /// Content address: sources, dependencies and platform.
    pub digest: String,
    pub unzipped: u64,
}

/// A built package.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    pub path: PathBuf,
    pub digest: String,
    pub size: u64,
    pub unzipped: u64,
    pub files: usize,
    /// Native libraries (ELF files) in the package.
    pub native_libraries: usize,
}

#[derive(Debug, Clone)]
pub struct Packager {
    paths: local::Paths,
    cache: PathBuf,
    /// This machine's platform label, found once (it takes starting Python).
    local_label: std::sync::Arc<std::sync::OnceLock<String>>,
}

impl Packager {
    /// The cache lives beside the local cloud's venv, which every state directory shares.
    pub fn new(paths: &local::Paths) -> Packager {
        let cache = paths.venv.parent().unwrap_or(Path::new(".")).join("agent-packages");
        Packager { paths: paths.clone(), cache, local_label: Default::default() }
    }

    fn python(&self) -> PathBuf {
        self.paths.venv.join("bin/python")
    }

    fn label(&self, platform: &Platform) -> Result<String> {
        Ok(match platform {
            Platform::Local => {
                if let Some(label) = self.local_label.get() {
                    return Ok(label.clone());
                }
                let out = Command::new(self.python())
                    .args(["-c", "import sys, platform; print(f'cp{sys.version_info[0]}{sys.version_info[1]}-{platform.machine()}')"])
                    .output()
                    .context("cannot run the local cloud's Python")?;
                let tag = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !out.status.success() || tag.is_empty() {
                    bail!("the local cloud's Python did not say its version\n  hint: cargo xtask local install");
                }
                self.local_label.get_or_init(|| format!("local-{tag}")).clone()
            }
            Platform::Aws { python } => {
                format!("aws-cp{}-manylinux-aarch64", python.replace('.', ""))
            }
        })
    }

    /// The dependencies of `requirements` for `platform`: installed once, then reused.
    /// Returns the directory and the digest of its tree.
    pub fn dependencies(
        &self,
        requirements: &Path,
        platform: &Platform,
    ) -> Result<(PathBuf, String)> {
        local::install(&self.paths, &|_| {})?;
        let text = std::fs::read(requirements)
            .with_context(|| format!("cannot read {}", requirements.display()))?;
        let label = self.label(platform)?;
        let key = hex::encode(
            &Sha256::new().chain_update(&text).chain_update(label.as_bytes()).finalize()[..8],
        );
        let deps = self.cache.join("deps");
        std::fs::create_dir_all(&deps)?;
        let dir = deps.join(format!("{label}-{key}"));
        let digest_file = deps.join(format!("{label}-{key}.digest"));
        if let Ok(d) = std::fs::read_to_string(&digest_file) {
            return Ok((dir, d));
        }
        let lock = File::create(deps.join(format!("{label}-{key}.lock")))?;
        lock.lock()?;
        if let Ok(d) = std::fs::read_to_string(&digest_file) {
            return Ok((dir, d));
        }
        let tmp = deps.join(format!("{label}-{key}.tmp"));
        let _ = std::fs::remove_dir_all(&tmp);
        let mut pip = Command::new(self.python());
        pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(["--no-deps", "--no-compile", "--only-binary=:all:", "--target"])
            .arg(&tmp)
            .arg("-r")
            .arg(requirements);
        if let Platform::Aws { python } = platform {
            pip.args([
                "--platform",
                "manylinux2014_aarch64",
                "--platform",
                "manylinux_2_28_aarch64",
            ])
            .args(["--implementation", "cp", "--python-version", python]);
        }
        let out = pip.output().context("cannot run pip")?;
        if !out.status.success() {
            bail!(
                "installing the agent's dependencies for {label} failed:\n{}\n  hint: every package of {} must be pinned and have a wheel for that platform; pip needs PyPI",
                String::from_utf8_lossy(&out.stderr).trim(),
                requirements.display()
            );
        }
        // Console scripts carry this machine's interpreter path in their shebang: not portable,
        // and no agent runs them.
        let _ = std::fs::remove_dir_all(tmp.join("bin"));
        let digest = tree_digest(&collect(&tmp, "")?)?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir)?;
        std::fs::write(&digest_file, &digest)?;
        Ok((dir, digest))
    }

    /// Sources (their contents merged at the zip's root) plus dependencies.
    pub fn manifest(
        &self,
        sources: &[PathBuf],
        requirements: &Path,
        platform: &Platform,
    ) -> Result<Manifest> {
        let (deps_dir, deps_digest) = self.dependencies(requirements, platform)?;
        let mut own = BTreeMap::new();
        for dir in sources {
            for (name, entry) in collect(dir, "")? {
                if own.insert(name.clone(), entry).is_some() {
                    bail!("{name} is in more than one of the agent's source directories");
                }
            }
        }
        let sources_digest = tree_digest(&own)?;
        let mut entries = collect(&deps_dir, "")?;
        for (name, entry) in own {
            if entries.insert(name.clone(), entry).is_some() {
                bail!("{name} of the agent's sources clashes with a file of its dependencies");
            }
        }
        let mut unzipped = 0;
        for (path, _) in entries.values() {
            unzipped += std::fs::metadata(path)?.len();
        }
        let digest = hex::encode(
            Sha256::new()
                .chain_update(b"agent-package v1\n")
                .chain_update(self.label(platform)?.as_bytes())
                .chain_update(deps_digest.as_bytes())
                .chain_update(sources_digest.as_bytes())
                .finalize(),
        );
        Ok(Manifest { entries, digest, unzipped })
    }

    /// The zip for `manifest`, built once per digest.
    pub fn build(&self, manifest: &Manifest, platform: &Platform) -> Result<Built> {
        if manifest.unzipped > MAX_UNZIPPED {
            bail!(
                "the agent package would unpack to {} MB, over AgentCore Runtime's {} MB limit\n  hint: drop dependencies the agent does not import",
                manifest.unzipped / 1_000_000,
                MAX_UNZIPPED / 1024 / 1024
            );
        }
        let zips = self.cache.join("zips");
        std::fs::create_dir_all(&zips)?;
        let path = zips.join(format!("{}.zip", manifest.digest));
        let mut native = 0;
        for (name, (file, _)) in &manifest.entries {
            if let Some(machine) = elf_machine(file)? {
                native += 1;
                if matches!(platform, Platform::Aws { .. }) && machine != EM_AARCH64 {
                    bail!("{name} is a native library for ELF machine {machine}, not arm64 (aarch64): it would not load on AgentCore Runtime");
                }
            }
        }
        if !path.exists() {
            let tmp = zips.join(format!("{}.{}.tmp", manifest.digest, std::process::id()));
            write_zip(&tmp, &manifest.entries)?;
            std::fs::rename(&tmp, &path)?;
        }
        let size = std::fs::metadata(&path)?.len();
        if size > MAX_ZIPPED {
            bail!(
                "the agent package is {} MB, over AgentCore Runtime's {} MB limit for a zip\n  hint: drop dependencies the agent does not import",
                size / 1_000_000,
                MAX_ZIPPED / 1024 / 1024
            );
        }
        Ok(Built {
            path,
            digest: manifest.digest.clone(),
            size,
            unzipped: manifest.unzipped,
            files: manifest.entries.len(),
            native_libraries: native,
        })
    }
}

/// Regular files under `dir` by zip entry name (`/`-separated), skipping bytecode caches.
pub(crate) fn collect(dir: &Path, prefix: &str) -> Result<BTreeMap<String, (PathBuf, u32)>> {
    let mut out = BTreeMap::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name == "__pycache__" || name.ends_with(".pyc") {
            continue;
        }
        let full = format!("{prefix}{name}");
        let meta = std::fs::symlink_metadata(entry.path())?;
        if meta.is_dir() {
            out.extend(collect(&entry.path(), &format!("{full}/"))?);
        } else if meta.is_file() {
            let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
            out.insert(full, (entry.path(), mode));
        } else {
            bail!(
                "{} is neither a file nor a directory: a package holds only plain files",
                entry.path().display()
            );
        }
    }
    Ok(out)
}

/// Names, modes and contents, in order.
fn tree_digest(entries: &BTreeMap<String, (PathBuf, u32)>) -> Result<String> {
    let mut h = Sha256::new();
    for (name, (path, mode)) in entries {
        let mut file = Vec::new();
        File::open(path)?.read_to_end(&mut file)?;
        h.update(format!("{name}\0{mode:o}\0{}\0", file.len()).as_bytes());
        h.update(&file);
    }
    Ok(hex::encode(h.finalize()))
}

fn write_zip(path: &Path, entries: &BTreeMap<String, (PathBuf, u32)>) -> Result<()> {
    zip_into(File::create(path)?, entries)?.flush()?;
    Ok(())
}

/// Directories' contents merged at a zip's root, in memory, the same bytes for the same files
/// (a Lambda function's code, which AWS identifies by the zip's SHA-256).
pub fn zip_sources(sources: &[PathBuf]) -> Result<Vec<u8>> {
    let mut entries = BTreeMap::new();
    for dir in sources {
        for (name, entry) in collect(dir, "")? {
            if entries.insert(name.clone(), entry).is_some() {
                bail!("{name} is in more than one of the source directories");
            }
        }
    }
    Ok(zip_into(std::io::Cursor::new(Vec::new()), &entries)?.into_inner())
}

fn zip_into<W: std::io::Write + std::io::Seek>(
    out: W,
    entries: &BTreeMap<String, (PathBuf, u32)>,
) -> Result<W> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(out);
    for (name, (file, mode)) in entries {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(*mode);
        zip.start_file(name.as_str(), options)?;
        std::io::copy(&mut File::open(file)?, &mut zip)?;
    }
    Ok(zip.finish()?)
}

/// The ELF machine of `path`, if it is an ELF file.
fn elf_machine(path: &Path) -> Result<Option<u16>> {
    let mut head = [0u8; 20];
    let mut f = File::open(path)?;
    let n = f.read(&mut head)?;
    if n < 20 || &head[..4] != b"\x7fELF" {
        return Ok(None);
    }
    Ok(Some(u16::from_le_bytes([head[18], head[19]])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_tree_gives_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/pkg")).unwrap();
        std::fs::write(dir.path().join("src/main.py"), "print('hi')\n").unwrap();
        std::fs::write(dir.path().join("src/pkg/a.py"), "x = 1\n").unwrap();
        std::fs::set_permissions(
            dir.path().join("src/pkg/a.py"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("src/__pycache__")).unwrap();
        std::fs::write(dir.path().join("src/__pycache__/main.pyc"), "junk").unwrap();
        let entries = collect(&dir.path().join("src"), "").unwrap();
        assert_eq!(entries.keys().collect::<Vec<_>>(), ["main.py", "pkg/a.py"]);
        assert_eq!(entries["pkg/a.py"].1, 0o755);
        write_zip(&dir.path().join("one.zip"), &entries).unwrap();
        // Touch the files: timestamps must not matter.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(dir.path().join("src/main.py"), "print('hi')\n").unwrap();
        write_zip(&dir.path().join("two.zip"), &collect(&dir.path().join("src"), "").unwrap())
            .unwrap();
        let one = std::fs::read(dir.path().join("one.zip")).unwrap();
        assert_eq!(one, std::fs::read(dir.path().join("two.zip")).unwrap());
        let digest = tree_digest(&entries).unwrap();
        std::fs::write(dir.path().join("src/main.py"), "print('ho')\n").unwrap();
        assert_ne!(digest, tree_digest(&collect(&dir.path().join("src"), "").unwrap()).unwrap());
    }
}
