//! The Data API's login on a cluster with express configuration, made by its master user over an
//! IAM-authenticated connection. The Data API signs in with a secret's username and password, and
//! an express cluster's master user has neither ("Create with express configuration": Data API
//! "doesn't support authentication with master username/password. You must create new user
//! credentials to access Data API."). This login gets the password of its
//! `secretsmanager.database_credentials` secret (as a SCRAM verifier, never the password), may
//! create roles, and owns the database it creates: the migrations then run as it through the
//! Data API, exactly as they run as the master user on the full configuration.
//! Lives and dies with its cluster.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::sql_login::{check_role_name, login_drift, refused_sign_in, scram_verifier};
use super::{database_credentials, KindInfo, Sim, SIM};
use crate::cloud::data_api::Database;
use crate::cloud::postgres;
use crate::cloud::Clients;
use crate::engine::{
    change, found, CloudResult, FieldChange, Found, Kind, Observation, SeenOf, Target, Update,
};

pub const INFO: KindInfo = KindInfo {
    kind: "rdsiam.admin_login",
    attributes: &["username", "database", "secret_arn"],
    deadline_secs: 600,
    cascades: true,
    // Two sign-ins (TLS, IAM token) and five statements.
    // Source: none published: two TLS sign-ins over the internet and five statements, 2 s per
    // step, an estimate.
    sim: Sim { call: 2.0, ..SIM },
    ..KindInfo::DEFAULT
};

/// Express clusters listen on 5432 ("Port: Default value = 5432. Cannot be modified.").
const PORT: u16 = 5432;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    /// The cluster: the Data API signs in as the login there.
    pub cluster_arn: String,
    /// The cluster's endpoint (known once it is usable).
    pub endpoint: String,
    pub master_username: String,
    /// The database to create, owned by the login.
    pub database: String,
    /// A `secretsmanager.database_credentials` secret: the login's name and password.
    pub login_secret_arn: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    owns_database: bool,
    master_inherits: bool,
    signs_in_with_the_secret: bool,
    role_settings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub username: String,
    pub database: String,
    /// The secret the Data API signs in with (`login_secret_arn`, passed on).
    pub secret_arn: String,
}

pub struct AdminLogin(pub Clients);

impl AdminLogin {
    /// The master user's connection, with a fresh IAM token.
    async fn as_master(&self, p: &Properties) -> CloudResult<tokio_postgres::Client> {
        let token = postgres::iam_token(&self.0, &p.endpoint, PORT, &p.master_username).await?;
        postgres::connect(&self.0, &p.endpoint, PORT, &p.master_username, "postgres", &token).await
    }

    async fn converge(&self, p: &Properties) -> CloudResult<Outputs> {
        let (username, password) = database_credentials::read(&self.0, &p.login_secret_arn).await?;
        check_role_name(&username)?;
        check_role_name(&p.database)?;
        let db = self.as_master(p).await?;
        let exists = !db
            .query("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&username])
            .await
            .map_err(postgres::sql_error)?
            .is_empty();
        // (ALTER ROLE may not name SUPERUSER, not even NOSUPERUSER, unless run by a superuser,
        // which neither master user is; a role this one creates is never a superuser.)
        let verb = if exists { "ALTER" } else { "CREATE" };
        // A verifier is not a password: it cannot sign in anywhere, so this text is safe to send.
        let statements = [
            format!(
                "{verb} ROLE \"{username}\" WITH LOGIN CREATEROLE PASSWORD '{}'",
                scram_verifier(&password)
            ),
            format!("ALTER ROLE \"{username}\" RESET ALL"),
            // The master user becomes a member for as long as it gives the login the database.
            format!("GRANT \"{username}\" TO CURRENT_USER"),
        ];
        for sql in &statements {
            db.batch_execute(sql).await.map_err(postgres::sql_error)?;
        }
        let has_db = !db
            .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&p.database])
            .await
            .map_err(postgres::sql_error)?
            .is_empty();
        let sql = if has_db {
            format!("ALTER DATABASE \"{}\" OWNER TO \"{username}\"", p.database)
        } else {
            format!("CREATE DATABASE \"{}\" OWNER \"{username}\"", p.database)
        };
        db.batch_execute(&sql).await.map_err(postgres::sql_error)?;
        // Then no longer: the master user answers to IAM tokens from the internet, and would
        // otherwise hold, through the login, everything the migrations make (the tables, the
        // tenant-token key). (PostgreSQL 16 and later keep the ADMIN OPTION CREATEROLE gave it,
        // which inherits nothing.)
        let revoke = format!("REVOKE \"{username}\" FROM CURRENT_USER");
        db.batch_execute(&revoke).await.map_err(postgres::sql_error)?;
        Ok(Outputs {
            username,
            database: p.database.clone(),
            secret_arn: p.login_secret_arn.clone(),
        })
    }
}

#[async_trait]
impl Kind for AdminLogin {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const UPDATE: Update = Update::CreateAgain;

    async fn observe(&self, _t: &Target, p: &Properties) -> Observation<Self> {
        let Some((username, _)) =
            found(database_credentials::read(&self.0, &p.login_secret_arn).await)?
        else {
            return Ok(None);
        };
        check_role_name(&username)?;
        let db = self.as_master(p).await?;
        let role = db
            .query(
                "SELECT r.rolcanlogin, \
                 ARRAY(SELECT unnest(s.setconfig) FROM pg_db_role_setting s WHERE s.setrole = r.oid ORDER BY 1) \
                 FROM pg_roles r WHERE r.rolname = $1",
                &[&username],
            )
            .await
            .map_err(postgres::sql_error)?;
        let Some(row) = role.first() else {
            return Ok(None);
        };
        if !row.get::<_, bool>(0) {
            return Ok(None);
        }
        let role_settings: Vec<String> = row.get(1);
        // Whether the master user inherits the login's privileges (it must not, see converge).
        let master_inherits: bool = db
            .query_one("SELECT pg_has_role(current_user, $1::text::name, 'USAGE')", &[&username])
            .await
            .map_err(postgres::sql_error)?
            .get(0);
        let owns_database = !db
            .query(
                "SELECT 1 FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba \
                 WHERE d.datname = $1 AND r.rolname = $2",
                &[&p.database, &username],
            )
            .await
            .map_err(postgres::sql_error)?
            .is_empty();
        // Signing in is the only way to know the password is in place; through the Data API,
        // the login's only way in (the gateway takes IAM tokens alone).
        let as_login = Database::new(&p.cluster_arn, &p.login_secret_arn, "postgres");
        let signs_in = match as_login.query(&self.0, "SELECT 1 AS one", vec![], None).await {
            Ok(_) => true,
            Err(e) if refused_sign_in(&e) => false,
            Err(e) => return Err(e),
        };
        let outputs = Outputs {
            username,
            database: p.database.clone(),
            secret_arn: p.login_secret_arn.clone(),
        };
        Ok(Found::ours(
            State {
                owns_database,
                master_inherits,
                signs_in_with_the_secret: signs_in,
                role_settings,
            },
            outputs,
        ))
    }

    /// What can drift in the database (the properties are only where things are).
    fn diff(
        &self,
        _p: &Properties,
        seen: &SeenOf<Self>,
        _changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        let mut changes = Vec::new();
        if !seen.state.owns_database {
            changes.push(change("owns_database", false, true));
        }
        if seen.state.master_inherits {
            changes.push(change("master_inherits", true, false));
        }
        changes.extend(login_drift(seen.state.signs_in_with_the_secret, &seen.state.role_settings));
        changes
    }

    async fn create(&self, _t: &Target, p: &Properties) -> CloudResult<Outputs> {
        self.converge(p).await
    }
}
