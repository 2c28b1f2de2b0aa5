//! Where the provisioner talks to: AWS through the standard credential chain, or the local
//! cloud on 127.0.0.1. Builds SDK clients that share one retry policy and one call counter.

pub mod data_api;
pub mod ec2;
pub mod local;
pub mod postgres;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
// read_before_serialization runs once per operation (before the retry loop), after the
// operation's metadata is in the config bag, which read_before_execution is too early for.
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::ConfigBag;

use crate::engine::CloudError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// The local cloud on 127.0.0.1 (ministack, moto, PostgreSQL behind a local Data API): free, no account needed.
    Local,
    /// Real AWS, through the standard credential chain (profiles, SSO, web identity).
    Aws,
}

/// Counts API operations (not HTTP attempts: a retried call counts once), split into reads and
/// mutations by the operation's name.
#[derive(Debug, Default)]
pub struct CallCounter {
    pub read: AtomicU64,
    pub mutating: AtomicU64,
}

impl CallCounter {
    pub fn is_read(operation: &str) -> bool {
        let op = operation.strip_prefix("Admin").unwrap_or(operation);
        ["Get", "List", "Describe", "Head", "Retrieve"].iter().any(|p| op.starts_with(p))
    }

    pub fn count(&self, operation: &str) {
        let counter = if Self::is_read(operation) { &self.read } else { &self.mutating };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> (u64, u64) {
        (self.read.load(Ordering::Relaxed), self.mutating.load(Ordering::Relaxed))
    }
}

#[derive(Debug, Clone)]
pub struct CountingInterceptor(pub Arc<CallCounter>);

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "CountingInterceptor"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementInput;
        if let Some(meta) = cfg.load::<Metadata>() {
            // A SELECT outside a transaction changes nothing: observing a database is a read.
            let select = context
                .input()
                .downcast_ref::<ExecuteStatementInput>()
                .filter(|i| i.transaction_id().is_none())
                .and_then(|i| i.sql())
                .is_some_and(|sql| {
                    sql.trim_start().get(..6).is_some_and(|w| w.eq_ignore_ascii_case("select"))
                });
            if select {
                self.0.read.fetch_add(1, Ordering::Relaxed);
            } else {
                self.0.count(meta.name());
            }
        }
        Ok(())
    }

    /// With `XTASK_RECORD_REQUESTS=<file>`, appends every HTTP request (each attempt) as one
    /// JSON line: service, operation, method, URI, the headers that carry parameters, body. The
    /// contract test checks them against the AWS service models.
    fn read_before_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(path) = std::env::var_os("XTASK_RECORD_REQUESTS") else {
            return Ok(());
        };
        let request = context.request();
        let headers: serde_json::Map<String, serde_json::Value> = request
            .headers()
            .iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                // Parameters travel in x-amz-* headers and a few standard ones; never the
                // signature or the security token.
                (k.starts_with("x-amz-")
                    && ![
                        "x-amz-date",
                        "x-amz-security-token",
                        "x-amz-content-sha256",
                        "x-amz-user-agent",
                    ]
                    .contains(&k.as_str()))
                    || ["content-type", "content-md5", "if-match", "if-none-match"]
                        .contains(&k.as_str())
            })
            .map(|(k, v)| (k.to_ascii_lowercase(), serde_json::Value::from(v)))
            .collect();
        let meta = cfg.load::<Metadata>();
        let request = Recorded {
            service: meta.map(|m| m.service()).unwrap_or_default(),
            operation: meta.map(|m| m.name()).unwrap_or_default(),
            method: request.method(),
            uri: request.uri(),
            headers,
            body: request.body().bytes(),
        };
        Ok(record_request(&path, &request)?)
    }
}

/// One HTTP request as the contract test reads it.
pub struct Recorded<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub body: Option<&'a [u8]>,
}

/// Appends `request` to the `XTASK_RECORD_REQUESTS` file `path`, one JSON line.
pub fn record_request(path: &std::ffi::OsStr, request: &Recorded<'_>) -> std::io::Result<()> {
    let body = request.body.map(|b| match std::str::from_utf8(b) {
        Ok(text) => serde_json::json!({"text": text}),
        Err(_) => serde_json::json!({"bytes": b.len()}),
    });
    let line = serde_json::json!({
        "service": request.service,
        "operation": request.operation,
        "method": request.method,
        "uri": request.uri,
        "headers": request.headers,
        "body": body,
    });
    static FILE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = FILE.lock().expect("not poisoned");
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(file, "{line}")
}

/// The SDK clients of one run, all counted.
#[derive(Clone)]
pub struct Clients {
    pub region: String,
    pub account: String,
    pub calls: Arc<CallCounter>,
    /// SQL transactions begun and not yet ended: (transaction id, cluster ARN, secret ARN).
    /// An interrupted run rolls them back rather than leave them holding locks.
    pub open_transactions: Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub s3: aws_sdk_s3::Client,
    /// S3 for the environment locks (`lock.rs`), counted apart: a converged deploy still makes
    /// no mutating call to the environment's resources.
    pub locks: aws_sdk_s3::Client,
    pub lock_calls: Arc<CallCounter>,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ec2: ec2::Ec2,
    pub rds: aws_sdk_rds::Client,
    pub rdsdata: aws_sdk_rdsdata::Client,
    pub iam: aws_sdk_iam::Client,
    pub s3vectors: aws_sdk_s3vectors::Client,
    pub bedrockagent: aws_sdk_bedrockagent::Client,
    /// Bedrock's control plane: the inference profiles a region can call.
    pub bedrock: aws_sdk_bedrock::Client,
    /// Those profiles' ids, listed once per run.
    pub inference_profiles: Arc<tokio::sync::OnceCell<Vec<String>>>,
    pub bedrockruntime: aws_sdk_bedrockagentruntime::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    pub agentcore: aws_sdk_bedrockagentcorecontrol::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub target: TargetKind,
    /// Where agents are invoked: `https://bedrock-agentcore.<region>.amazonaws.com`, the local
    /// runtime host, or `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`.
    pub agentcore_invoke: String,
    /// Builds agent packages (with the local cloud's Python and pip, on either target).
    pub packager: crate::packaging::Packager,
    /// The repository root: stack properties name files relative to it.
    pub root: std::path::PathBuf,
    /// Credentials, region and clock, for RDS IAM authentication tokens.
    pub sdk: SdkConfig,
    /// Locally: where the database gateway listens and the CA it is trusted by.
    pub database_gateway: Option<postgres::Gateway>,
}

/// Per-service endpoints of the local cloud where they differ from the main one.
#[derive(Debug, Clone, Default)]
pub struct LocalEndpoints {
    pub rds_data: Option<String>,
    pub s3vectors: Option<String>,
    pub runtime_host: Option<String>,
    /// The stand-in of Aurora's internet access gateway: where to dial, and its CA.
    pub database_gateway: Option<postgres::Gateway>,
}

/// The SDK's HTTP client: hyper 1 and rustls on ring, with the system's root certificates (one
/// TLS stack for the whole program; the SDK's default would compile AWS-LC from C as well).
fn https() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

/// SDK settings for `target`. Local: the emulator's endpoint and dummy static credentials.
pub async fn sdk_config(target: TargetKind, local_endpoint: Option<&str>) -> SdkConfig {
    // Standard mode retries throttling and transient errors with jittered backoff; more
    // attempts than the default 3, since a deploy creates many resources at once.
    let retry = RetryConfig::standard().with_max_attempts(8);
    // A route that goes nowhere fails within seconds, not after the OS's connect timeout.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .build();
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https())
        .retry_config(retry)
        .timeout_config(timeouts);
    match target {
        TargetKind::Aws => loader.load().await,
        TargetKind::Local => {
            let creds = aws_sdk_sts::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "agentcore-mt-local",
            );
            loader
                .region(Region::new(local::REGION))
                .endpoint_url(local_endpoint.expect("the local cloud is up"))
                .credentials_provider(creds)
                .load()
                .await
        }
    }
}

impl Clients {
    pub async fn new(
        target: TargetKind,
        sdk: &SdkConfig,
        endpoints: Option<&LocalEndpoints>,
        root: std::path::PathBuf,
        packager: crate::packaging::Packager,
    ) -> anyhow::Result<Clients> {
        let calls = Arc::new(CallCounter::default());
        let counting = CountingInterceptor(calls.clone());
        let lock_calls = Arc::new(CallCounter::default());
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(sdk).interceptor(counting.clone()).build(),
        );
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let sts_endpoint = sdk
            .endpoint_url()
            .map(str::to_string)
            .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
        // Who we are is the first call: it fails fast (two attempts) when nothing answers.
        let identity = sts
            .get_caller_identity()
            .customize()
            .config_override(
                aws_sdk_sts::config::Builder::default()
                    .retry_config(RetryConfig::standard().with_max_attempts(2)),
            )
            .send()
            .await
            .map_err(|e| {
                let why = describe_sdk_error(&e);
                // Not an answer from AWS at all: no route, a timeout, or something else there.
                let connect = ["cannot connect", "timed out", "without an AWS error"]
                    .iter()
                    .any(|w| why.contains(w));
                let hint = match (target, connect) {
                    (TargetKind::Local, _) => "the local cloud does not answer: run `cargo xtask local status`",
                    (TargetKind::Aws, true) => "AWS did not answer: check the network route to it (proxy, VPN, firewall) and AWS_ENDPOINT_URL; the credentials were not checked yet",
                    (TargetKind::Aws, false) => "configure credentials (aws configure / aws sso login / AWS_PROFILE) and a region (AWS_REGION)",
                };
                anyhow::anyhow!(
                    "cannot find out who you are (sts:GetCallerIdentity at {sts_endpoint}): {why}\n  hint: {hint}"
                )
            })?;
        let account = identity.account().unwrap_or_default().to_string();
        if region.is_empty() {
            anyhow::bail!(
                "no AWS region is configured\n  hint: set AWS_REGION or a region in your profile"
            );
        }
        let agentcore_invoke = std::env::var("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE")
            .ok()
            .or_else(|| endpoints.and_then(|e| e.runtime_host.clone()))
            .unwrap_or_else(|| format!("https://bedrock-agentcore.{region}.amazonaws.com"));
        Ok(Clients {
            region,
            account,
            cognito: aws_sdk_cognitoidentityprovider::Client::from_conf(
                aws_sdk_cognitoidentityprovider::config::Builder::from(sdk)
                    .interceptor(counting.clone())
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(sdk)
                    .force_path_style(target == TargetKind::Local)
                    .interceptor(counting.clone())
                    .build(),
            ),
            locks: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(sdk)
                    .force_path_style(target == TargetKind::Local)
                    .interceptor(CountingInterceptor(lock_calls.clone()))
                    .build(),
            ),
            lock_calls,
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(sdk)
                    .interceptor(counting.clone())
                    .build(),
            ),
            ec2: ec2::Ec2::new(sdk, calls.clone())?,
            rds: aws_sdk_rds::Client::from_conf(
                aws_sdk_rds::config::Builder::from(sdk).interceptor(counting.clone()).build(),
            ),
            tagging: aws_sdk_resourcegroupstagging::Client::from_conf(
                aws_sdk_resourcegroupstagging::config::Builder::from(sdk)
                    .interceptor(counting.clone())
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(sdk).interceptor(counting.clone()).build(),
            ),
            s3vectors: {
                let mut b =
                    aws_sdk_s3vectors::config::Builder::from(sdk).interceptor(counting.clone());
                if let Some(url) = endpoints.and_then(|e| e.s3vectors.as_deref()) {
                    b = b.endpoint_url(url);
                }
                aws_sdk_s3vectors::Client::from_conf(b.build())
            },
            bedrockagent: aws_sdk_bedrockagent::Client::from_conf(
                aws_sdk_bedrockagent::config::Builder::from(sdk)
                    .interceptor(counting.clone())
                    .build(),
            ),
            bedrock: aws_sdk_bedrock::Client::from_conf(
                aws_sdk_bedrock::config::Builder::from(sdk).interceptor(counting.clone()).build(),
            ),
            inference_profiles: Default::default(),
            agentcore: aws_sdk_bedrockagentcorecontrol::Client::from_conf(
                aws_sdk_bedrockagentcorecontrol::config::Builder::from(sdk)
                    .interceptor(counting.clone())
                    .build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
                    .interceptor(counting.clone())
                    .build(),
            ),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(sdk).interceptor(counting.clone()).build(),
            ),
            target,
            agentcore_invoke,
            packager,
            bedrockruntime: aws_sdk_bedrockagentruntime::Client::from_conf(
                aws_sdk_bedrockagentruntime::config::Builder::from(sdk)
                    .interceptor(counting.clone())
                    .build(),
            ),
            rdsdata: {
                let mut b = aws_sdk_rdsdata::config::Builder::from(sdk).interceptor(counting);
                if let Some(url) = endpoints.and_then(|e| e.rds_data.as_deref()) {
                    b = b.endpoint_url(url);
                }
                aws_sdk_rdsdata::Client::from_conf(b.build())
            },
            calls,
            open_transactions: Default::default(),
            root,
            sdk: sdk.clone(),
            database_gateway: endpoints.and_then(|e| e.database_gateway.clone()),
        })
    }
}

/// The error code and message of an SDK error, without the request details.
pub fn describe_sdk_error<E>(
    err: &aws_smithy_runtime_api::client::result::SdkError<E, HttpResponse>,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            match (e.code(), e.message()) {
                (None, None) => {
                    let status = se.raw().status();
                    format!(
                        "the endpoint answered HTTP {} without an AWS error (a proxy, or AWS_ENDPOINT_URL pointing at something that is not this service?)",
                        status.as_u16()
                    )
                }
                (code, message) => {
                    format!("{}: {}", code.unwrap_or("error"), message.unwrap_or(""))
                }
            }
        }
        SdkError::DispatchFailure(d) => {
            let detail = format!("{d:?}");
            if detail.contains("CredentialsNotLoaded") {
                "no AWS credentials were found (tried the environment, the shared config and credentials files, web identity, ECS and EC2 instance metadata)".into()
            } else if detail.contains("ProviderChainError") || detail.contains("ProviderError") {
                "the AWS credentials could not be loaded (an expired SSO session?)".into()
            } else if d.is_timeout() {
                "cannot connect: no answer within the connect timeout (5 s)".into()
            } else {
                format!("cannot connect: {}", root_cause(err))
            }
        }
        SdkError::TimeoutError(_) => "timed out".into(),
        other => root_cause(other),
    }
}

/// The innermost error of a chain (the OS's "Connection refused", not the SDK's wrappers).
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut e = err;
    while let Some(next) = e.source() {
        e = next;
    }
    e.to_string()
}

/// Error codes that mean "wait and try again" across services: throttling the SDK gave up on,
/// eventual consistency, a resource busy in a transition.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "ConcurrentModificationException",
    "OperationAborted",
    "InternalErrorException",
    "InternalServiceError",
    "InternalFailure",
    "ServiceUnavailable",
];

/// Classifies an SDK error for the engine. `not_found` lists the codes meaning "not there".
pub fn classify<E>(
    err: aws_smithy_runtime_api::client::result::SdkError<E, HttpResponse>,
    not_found: &[&str],
) -> CloudError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let text = describe_sdk_error(&err);
    match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            if not_found.contains(&code) {
                CloudError::NotFound(text)
            } else if RETRYABLE_CODES.contains(&code) {
                CloudError::Retryable(text)
            } else {
                CloudError::Service { code: code.to_string(), message: text }
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            CloudError::Retryable(text)
        }
        _ => CloudError::Fatal(text),
    }
}

#[cfg(test)]
mod tests {
    use super::CallCounter;

    #[test]
    fn reads_and_mutations() {
        for op in [
            "GetBucketTagging",
            "ListUserPools",
            "DescribeUserPool",
            "HeadBucket",
            "AdminGetUser",
            "AdminListGroupsForUser",
        ] {
            assert!(CallCounter::is_read(op), "{op}");
        }
        for op in [
            "CreateUserPool",
            "PutObject",
            "DeleteBucket",
            "AdminCreateUser",
            "AdminAddUserToGroup",
            "TagResource",
        ] {
            assert!(!CallCounter::is_read(op), "{op}");
        }
    }
}
