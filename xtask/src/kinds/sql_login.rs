//! Gives a database role (created NOLOGIN by the migrations) the password of its credentials
//! secret. Only a SCRAM-SHA-256 verifier is sent, computed here: the password itself never
//! leaves this process except to Secrets Manager. Lives and dies with its cluster.

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{database_credentials, KindInfo, Sim, SIM};
use crate::cloud::data_api::{text, Database};
use crate::cloud::Clients;
use crate::engine::{
    change, found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, SeenOf, Target,
    Update,
};

pub const INFO: KindInfo = KindInfo {
    kind: "rdsdata.login",
    attributes: &["username"],
    deadline_secs: 600,
    cascades: true,
    // Source: none published for a Data API call (ExecuteStatement on a running cluster): 1 s,
    // an estimate.
    sim: Sim { call: 1.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub cluster_arn: String,
    pub admin_secret_arn: String,
    pub database: String,
    /// A `secretsmanager.database_credentials` secret; its username must be an existing role.
    pub role_secret_arn: String,
}

/// What the role can change itself: whether the secret's password still signs in, and the
/// settings it carries.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    signs_in_with_the_secret: bool,
    role_settings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub username: String,
}

#[derive(Deserialize)]
struct Role {
    can_login: bool,
    settings: Settings,
}

/// `setconfig` entries: an array, or its text form where the Data API gives one.
#[derive(Deserialize)]
#[serde(untagged)]
enum Settings {
    List(Vec<String>),
    Text(String),
}

impl Settings {
    fn into_list(self) -> Vec<String> {
        match self {
            Settings::List(l) => l,
            Settings::Text(t) => serde_json::from_str(&t).unwrap_or_else(|_| vec![t]),
        }
    }
}

pub struct SqlLogin(pub Clients);

/// PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802 / 7677).
pub fn scram_verifier(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    scram_verifier_with(password, &salt, 4096)
}

fn scram_verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let hmac = |key: &[u8], msg: &[u8]| {
        let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
        m.update(msg);
        m.finalize().into_bytes()
    };
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key),
        b64.encode(server_key)
    )
}

pub(super) fn check_role_name(name: &str) -> CloudResult<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63;
    if ok {
        Ok(())
    } else {
        Err(CloudError::Fatal(format!(
            "database role name `{name}` must be lowercase letters, digits and `_`"
        )))
    }
}

/// Signing in as the role failed because of its password (28P01), or the role cannot log in
/// (28000). A sign-in refused before any SQL runs may come without a SQLSTATE; then only
/// PostgreSQL's text tells.
pub(super) fn refused_sign_in(e: &CloudError) -> bool {
    match crate::cloud::data_api::sqlstate(e) {
        Some(state) => ["28P01", "28000"].contains(&state),
        None => matches!(e, CloudError::Service { message: m, .. }
            if m.contains("password authentication failed") || m.contains("not permitted to log in")),
    }
}

fn admin(p: &Properties) -> Database {
    Database::new(&p.cluster_arn, &p.admin_secret_arn, &p.database)
}

/// The database as the role itself signs in to it, with its own secret.
fn as_role(p: &Properties) -> Database {
    Database::new(&p.cluster_arn, &p.role_secret_arn, &p.database)
}

impl SqlLogin {
    /// Sets the password from the secret and removes every role setting: the role itself can
    /// change both (`ALTER ROLE app_user PASSWORD ...`, `ALTER ROLE app_user SET ...`) and so
    /// lock the agents out or change how their statements run.
    async fn converge(&self, p: &Properties) -> CloudResult<Outputs> {
        let (username, password) = database_credentials::read(&self.0, &p.role_secret_arn).await?;
        check_role_name(&username)?;
        let admin = admin(p);
        // A verifier is not a password: it cannot sign in anywhere, so this text is safe to send.
        let sql = format!(
            "ALTER ROLE \"{username}\" WITH LOGIN PASSWORD '{}'",
            scram_verifier(&password)
        );
        admin.query(&self.0, &sql, vec![], None).await?;
        admin.query(&self.0, &format!("ALTER ROLE \"{username}\" RESET ALL"), vec![], None).await?;
        admin
            .query(
                &self.0,
                &format!("ALTER ROLE \"{username}\" IN DATABASE \"{}\" RESET ALL", p.database),
                vec![],
                None,
            )
            .await?;
        Ok(Outputs { username })
    }
}

#[async_trait]
impl Kind for SqlLogin {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const UPDATE: Update = Update::CreateAgain;

    async fn observe(&self, _t: &Target, p: &Properties) -> Observation<Self> {
        let Some((username, _)) =
            found(database_credentials::read(&self.0, &p.role_secret_arn).await)?
        else {
            return Ok(None);
        };
        check_role_name(&username)?;
        // What the master user sees: can the role log in, and what settings does it carry (for
        // every database, or this one)? Both are readable by any role.
        // No cluster, no database, no role yet (the migrations create it): nothing to observe.
        let role = admin(p)
            .read_one::<Role>(
                &self.0,
                "SELECT r.rolcanlogin AS can_login, \
                 ARRAY(SELECT unnest(s.setconfig) FROM pg_db_role_setting s \
                       WHERE s.setrole = r.oid AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database())) \
                       ORDER BY 1) AS settings \
                 FROM pg_roles r WHERE r.rolname = :name",
                vec![text("name", &username)],
            )
            .await?;
        let Some(role) = role else {
            return Ok(None);
        };
        if !role.can_login {
            return Ok(None);
        }
        // Signing in is the only way to know the password is in place.
        let signs_in = match as_role(p)
            .query(&self.0, "SELECT current_user AS username", vec![], None)
            .await
        {
            Ok(_) => true,
            Err(e) if refused_sign_in(&e) => false,
            Err(e) => return Err(e),
        };
        let state =
            State { signs_in_with_the_secret: signs_in, role_settings: role.settings.into_list() };
        Ok(Found::ours(state, Outputs { username }))
    }

    /// What the role can change itself (the properties are only where things are).
    fn diff(
        &self,
        _p: &Properties,
        seen: &SeenOf<Self>,
        _changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        login_drift(seen.state.signs_in_with_the_secret, &seen.state.role_settings)
    }

    async fn create(&self, _t: &Target, p: &Properties) -> CloudResult<Outputs> {
        self.converge(p).await
    }
}

/// What a login can change itself, as changes: its password (the secret's no longer signs in)
/// and its role settings (both login kinds).
pub(super) fn login_drift(signs_in: bool, role_settings: &[String]) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    if !signs_in {
        changes.push(change(
            "password",
            "changed outside deploy: the secret's password does not sign in",
            "the secret's password",
        ));
    }
    if !role_settings.is_empty() {
        changes.push(change("role_settings", role_settings, Vec::<String>::new()));
    }
    changes
}

#[cfg(test)]
mod tests {
    #[test]
    fn scram_verifier_matches_postgres() {
        // Computed by PostgreSQL 15 for password "pencil", salt "salt-of-16-bytes" and 4096 iterations.
        let v = super::scram_verifier_with("pencil", b"salt-of-16-bytes", 4096);
        assert!(v.starts_with("SCRAM-SHA-256$4096:c2FsdC1vZi0xNi1ieXRlcw==$"), "{v}");
        assert_eq!(v.matches(':').count(), 2);
    }
}
