//! `package`: builds the selected tutorials' agent packages for a platform, without deploying.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use super::session::Ctx;
use super::Exit;
use crate::cloud::TargetKind;
use crate::events::{ErrorKind, Event};
use crate::kinds::agentcore_package::AgentPackage;
use crate::packaging::{Packager, Platform};

pub fn run(cx: &Ctx<'_>, target: TargetKind) -> Result<Exit> {
    let (root, out) = (&cx.home.root, cx.out);
    let packager = Packager::new(&cx.home.paths);
    let mut any = false;
    for s in cx.stacks() {
        for r in s.resources.iter().filter(|r| r.is::<AgentPackage>()) {
            any = true;
            let p = &r.properties;
            let paths = |v: &Value| -> Vec<PathBuf> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str())
                    .map(|x| root.join(x))
                    .collect()
            };
            let platform = match target {
                TargetKind::Local => Platform::Local,
                TargetKind::Aws => {
                    Platform::Aws { python: p["python"].as_str().unwrap_or("3.12").to_string() }
                }
            };
            let spin = out.spinner(&format!("{}/{}: building", s.name, r.id));
            let requirements = root.join(p["requirements"].as_str().unwrap_or_default());
            let built = packager
                .manifest(&paths(&p["sources"]), &requirements, &platform)
                .and_then(|m| packager.build(&m, &platform));
            spin.finish_and_clear();
            let built = built.with_context(|| format!("{}/{}", s.name, r.id))?;
            out.say(&format!(
                "✓ {}/{} for {}: {} ({:.1} MB zipped, {:.1} MB unzipped, {} files, {} native libraries), digest {}",
                s.name,
                r.id,
                match target {
                    TargetKind::Aws => "aws (manylinux aarch64)",
                    TargetKind::Local => "local (this machine)",
                },
                built.path.display(),
                built.size as f64 / 1e6,
                built.unzipped as f64 / 1e6,
                built.files,
                built.native_libraries,
                built.digest
            ));
            out.event(Event::Package {
                stack: s.name.clone(),
                id: r.id.clone(),
                platform: target,
                package: built,
            });
        }
    }
    if !any {
        out.error(ErrorKind::NoAgent, "the selected tutorials have no agent package");
        return Ok(Exit::Invalid);
    }
    Ok(Exit::Ok)
}
