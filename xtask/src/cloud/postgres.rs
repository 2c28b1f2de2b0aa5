//! A PostgreSQL connection to an Aurora cluster with express configuration, through its internet
//! access gateway: TLS always, the server's certificate verified for the endpoint's name (the
//! gateway "uses the AWS root certificates (ACM root CAs)", Aurora User Guide "Create with express
//! configuration"; locally, the local cloud's CA), signed in with an RDS IAM authentication token
//! made by the SDK's signer (`aws_sdk_rds::auth_token`), or with a password.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Clients;
use crate::engine::{CloudError, CloudResult};

/// The local cloud's stand-in of the gateway: where to dial (the endpoint's name is still the
/// one TLS verifies and the token is signed for), and the CA its certificates come from.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub dial: (IpAddr, u16),
    pub ca: PathBuf,
}

/// A token that signs `user` in to `host:port` for 15 minutes (the most AWS allows).
pub async fn iam_token(
    clients: &Clients,
    host: &str,
    port: u16,
    user: &str,
) -> CloudResult<String> {
    use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config};
    let config = Config::builder()
        .hostname(host)
        .port(u64::from(port))
        .username(user)
        .expires_in(900)
        .build()
        .map_err(|e| CloudError::Fatal(format!("RDS auth token for {user}@{host}: {e}")))?;
    let token = AuthTokenGenerator::new(config)
        .auth_token(&clients.sdk)
        .await
        .map_err(|e| CloudError::Fatal(format!("cannot sign an RDS auth token: {e}")))?;
    Ok(token.as_str().to_string())
}

fn tls(clients: &Clients) -> CloudResult<tokio_postgres_rustls::MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(g) = &clients.database_gateway {
        let pem = std::fs::read(&g.ca).map_err(|e| {
            CloudError::Fatal(format!(
                "cannot read the local database gateway's CA {}: {e}",
                g.ca.display()
            ))
        })?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| CloudError::Fatal(format!("{}: {e}", g.ca.display())))?;
            roots.add(cert).map_err(|e| CloudError::Fatal(format!("{}: {e}", g.ca.display())))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(CloudError::fatal)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Signs in to `database` at `host:port` as `user` with `secret` (a token or a password).
pub async fn connect(
    clients: &Clients,
    host: &str,
    port: u16,
    user: &str,
    database: &str,
    secret: &str,
) -> CloudResult<tokio_postgres::Client> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(host)
        .user(user)
        .password(secret)
        .dbname(database)
        .ssl_mode(tokio_postgres::config::SslMode::Require)
        .connect_timeout(Duration::from_secs(10))
        .application_name("agentcore-mt");
    match &clients.database_gateway {
        Some(g) => config.hostaddr(g.dial.0).port(g.dial.1),
        None => config.port(port),
    };
    let (client, connection) = config.connect(tls(clients)?).await.map_err(sql_error)?;
    tokio::spawn(async move {
        // Ends when the client is dropped; an error then is the connection's end, not ours.
        let _ = connection.await;
    });
    Ok(client)
}

/// A database error with its SQLSTATE as the code (`28P01`: wrong password); a connection that
/// could not be made is worth another try (a cluster that is resuming, a name not yet in DNS).
pub fn sql_error(e: tokio_postgres::Error) -> CloudError {
    match e.as_db_error() {
        Some(db) => CloudError::Service {
            code: db.code().code().to_string(),
            message: format!("{}: {}", db.severity(), db.message()),
        },
        None if e.is_closed()
            || e.to_string().contains("connect")
            || e.to_string().contains("timed out") =>
        {
            CloudError::Retryable(format!("cannot reach the database: {e}"))
        }
        None => CloudError::Fatal(format!("database: {e}")),
    }
}
