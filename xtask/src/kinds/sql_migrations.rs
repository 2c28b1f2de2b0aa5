//! Versioned SQL files (`sql/NNN_name.sql`) applied in order through the Data API, each in one
//! transaction, and recorded with their checksum in `public.schema_migrations`: a re-deploy
//! applies only what is new, and a file edited after it was applied is refused.
//! The migrations live and die with their cluster (`cascades`).

use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{KindInfo, Sim, SIM};
use crate::cloud::data_api::{split_statements, sqlstate, text, Database};
use crate::cloud::Clients;
use crate::engine::{
    change, CloudError, CloudResult, FieldChange, Found, Kind, Observation, SeenOf, Target, Update,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "rdsdata.sql_migrations",
    name_style: NameStyle::Property("directory"),
    attributes: &["version"],
    deadline_secs: 900,
    cascades: true,
    files: &["directory"],
    // Source: none published; one Data API transaction per migration file with DDL: 8 s each,
    // an estimate (a resuming cluster adds its resume time).
    sim: Sim {
        create_steps: 5, // one transaction per file
        call: 8.0,
        ..SIM
    },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub cluster_arn: String,
    /// The master user's secret: migrations create roles and own the schema.
    pub admin_secret_arn: String,
    pub database: String,
    /// Relative to the repository root.
    pub directory: String,
}

/// The migrations directory exists and holds at least one `.sql` file, each readable text:
/// found before any call, not after the cluster was made.
fn check_files(p: &Properties, root: &std::path::Path) -> Vec<String> {
    let dir = root.join(&p.directory);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => {
            return vec![format!("cannot read the migrations directory {}: {e}", dir.display())]
        }
    };
    let mut problems = Vec::new();
    let mut found = 0;
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_some_and(|x| x == "sql") {
            found += 1;
            if let Err(e) = std::fs::read_to_string(&path) {
                problems.push(format!("cannot read the migration {}: {e}", path.display()));
            }
        }
    }
    if found == 0 {
        problems.push(format!("the migrations directory {} holds no .sql file", dir.display()));
    }
    problems
}

/// The migrations not applied yet.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    pending: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    /// The last one applied.
    pub version: Option<String>,
}

#[derive(Deserialize)]
struct Applied {
    version: String,
    checksum: String,
}

pub struct SqlMigrations(pub Clients);

struct File {
    version: String,
    path: PathBuf,
    checksum: String,
    sql: String,
}

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS public.schema_migrations (version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())";

impl SqlMigrations {
    fn files(&self, p: &Properties) -> CloudResult<Vec<File>> {
        let dir = self.0.root.join(&p.directory);
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir)
            .map_err(|e| CloudError::Fatal(format!("cannot read {}: {e}", dir.display())))?
        {
            let path = entry.map_err(CloudError::fatal)?.path();
            if path.extension().is_some_and(|x| x == "sql") {
                let sql = std::fs::read_to_string(&path).map_err(CloudError::fatal)?;
                let version = path.file_stem().unwrap_or_default().to_string_lossy().to_string();
                files.push(File {
                    version,
                    checksum: hex::encode(Sha256::digest(sql.as_bytes())),
                    path,
                    sql,
                });
            }
        }
        files.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(files)
    }

    fn db(p: &Properties) -> Database {
        Database::new(&p.cluster_arn, &p.admin_secret_arn, &p.database)
    }

    async fn applied(&self, p: &Properties) -> CloudResult<Option<Vec<(String, String)>>> {
        let db = Self::db(p);
        let rows: Vec<Applied> = match db
            .rows(
                &self.0,
                "SELECT version, checksum FROM public.schema_migrations ORDER BY version",
                vec![],
                None,
            )
            .await
        {
            Ok(rows) => rows,
            Err(CloudError::NotFound(_)) => return Ok(None),
            Err(e) if sqlstate(&e) == Some("42P01") => Vec::new(), // no ledger yet
            Err(e) => return Err(e),
        };
        Ok(Some(rows.into_iter().map(|r| (r.version, r.checksum)).collect()))
    }

    async fn apply(&self, p: &Properties) -> CloudResult<Outputs> {
        let db = Self::db(p);
        db.query(&self.0, LEDGER, vec![], None).await?;
        let applied: Vec<String> =
            self.applied(p).await?.unwrap_or_default().into_iter().map(|(v, _)| v).collect();
        let files = self.files(p)?;
        for f in files.iter().filter(|f| !applied.contains(&f.version)) {
            let tx = db.begin(&self.0).await?;
            for (i, statement) in split_statements(&f.sql).iter().enumerate() {
                if let Err(e) = db.query(&self.0, statement, vec![], Some(&tx)).await {
                    db.rollback(&self.0, &tx).await;
                    return Err(CloudError::Fatal(format!(
                        "{} statement {}: {e} (rolled back; nothing of this file was applied)",
                        f.path.display(),
                        i + 1
                    )));
                }
            }
            // A file may `SET LOCAL ROLE`; the ledger belongs to the master user.
            let record = "INSERT INTO public.schema_migrations (version, checksum) VALUES (:version, :checksum)";
            let recorded = match db.query(&self.0, "RESET ROLE", vec![], Some(&tx)).await {
                Ok(_) => {
                    db.query(
                        &self.0,
                        record,
                        vec![text("version", &f.version), text("checksum", &f.checksum)],
                        Some(&tx),
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = recorded {
                db.rollback(&self.0, &tx).await;
                return Err(CloudError::Fatal(format!(
                    "{}: recording it in public.schema_migrations: {e}",
                    f.path.display()
                )));
            }
            db.commit(&self.0, &tx).await?;
        }
        Ok(outputs(&files))
    }
}

fn outputs(files: &[File]) -> Outputs {
    Outputs { version: files.last().map(|f| f.version.clone()) }
}

#[async_trait]
impl Kind for SqlMigrations {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const UPDATE: Update = Update::CreateAgain;

    fn check_files(p: &Properties, root: &std::path::Path) -> Vec<String> {
        check_files(p, root)
    }

    async fn observe(&self, _t: &Target, p: &Properties) -> Observation<Self> {
        let Some(applied) = self.applied(p).await? else {
            return Ok(None);
        };
        if applied.is_empty() {
            return Ok(None);
        }
        let files = self.files(p)?;
        for (version, checksum) in &applied {
            match files.iter().find(|f| &f.version == version) {
                Some(f) if &f.checksum != checksum => {
                    return Err(CloudError::Fatal(format!(
                        "{} was edited after it was applied (applied checksum {}, file now {}): applied migrations are immutable; \
                         restore the file and put the change in a new, higher-numbered file",
                        f.path.display(),
                        &checksum[..12.min(checksum.len())],
                        &f.checksum[..12]
                    )))
                }
                Some(_) => {}
                None => {
                    return Err(CloudError::Fatal(format!(
                        "migration {version} was applied but {}/{version}.sql is gone: restore it",
                        p.directory
                    )))
                }
            }
        }
        let pending = files
            .iter()
            .filter(|f| !applied.iter().any(|(v, _)| v == &f.version))
            .map(|f| f.version.clone())
            .collect();
        let version = applied.last().map(|(v, _)| v.clone());
        Ok(Found::ours(State { pending }, Outputs { version }))
    }

    /// What was applied, without the files: a checkout that lacks or changed a migration must
    /// still find the schema (and let its cluster go) on destroy.
    async fn find(&self, _t: &Target, p: &Properties) -> Observation<Self> {
        let Some(applied) = self.applied(p).await? else {
            return Ok(None);
        };
        let version = applied.last().map(|(v, _)| v.clone());
        Ok(version
            .and_then(|v| Found::ours(State { pending: Vec::new() }, Outputs { version: Some(v) })))
    }

    /// The migrations to apply, whatever the properties say (they name where the files are).
    fn diff(
        &self,
        _p: &Properties,
        seen: &SeenOf<Self>,
        _changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        seen.state.pending.iter().map(|v| change(&format!("migrations/{v}"), (), "apply")).collect()
    }

    async fn create(&self, _t: &Target, p: &Properties) -> CloudResult<Outputs> {
        self.apply(p).await
    }
}
