//! EC2, for the ten calls the network kinds make (a VPC, its subnets and security group, the
//! region's availability zones), through EC2's Query API: a form-encoded POST signed with SigV4
//! by the SDK's own signer (`aws-sigv4`), with the SDK configuration's credentials, region and
//! endpoint, answered in XML (`roxmltree`). Why not `aws-sdk-ec2`: that one crate is the whole
//! EC2 API (hundreds of operations) and took 212 s of a 378 s first build on two cores, alone in
//! one rustc (issue 24: a new machine's first deploy under six minutes). The calls keep the
//! SDK's shape (`ec2.describe_vpcs().filter(..).send()`), its standard retry mode (throttling,
//! 5xx and transport errors, up to 8 attempts, backoff min(1 s x 2^n, 20 s) with full jitter;
//! a create only when it provably did not run: refused before connecting, or throttled), its
//! 5 s connect timeout, its credentials cache (refreshed 5 minutes before expiry), its
//! endpoint settings (`AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL`, the region's partition;
//! FIPS and dual-stack endpoints are refused, not ignored), the run's call counting (once per
//! operation) and request recording; errors are classified by their code as every other
//! service's are. The recorded requests are checked against botocore's EC2 model by the
//! contract test, and against the deploy policy by the IAM evaluator.
//! Not done: the SDK's clock-skew correction (a host whose clock is minutes off fails here
//! with AuthFailure while the other services' calls go through).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use super::{CallCounter, RETRYABLE_CODES};
use crate::engine::CloudError;

/// The EC2 API version every request names.
const VERSION: &str = "2016-11-15";
/// As the SDK's standard retry mode with the run's setting (`RetryConfig::standard()
/// .with_max_attempts(8)`).
const ATTEMPTS: u32 = 8;

#[derive(Clone)]
pub struct Ec2 {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    credentials: Option<SharedCredentialsProvider>,
    /// The last credentials, until 5 minutes before they expire (the SDK's identity cache).
    cached: Arc<tokio::sync::Mutex<Option<Credentials>>>,
    calls: Arc<CallCounter>,
}

/// What kind of failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Failure {
    /// The service answered with an error (its code, or `HTTP<status>`).
    Service,
    /// No answer: `connect` when the request never left (nothing ran on the other side).
    Transport { connect: bool },
    /// Here, before sending: no credentials, a request that cannot be signed.
    Local,
}

/// Why a call failed: the service's error code and message, or none (no answer).
#[derive(Debug)]
pub struct Ec2Error {
    pub code: Option<String>,
    pub message: String,
    pub status: Option<u16>,
    pub failure: Failure,
}

impl std::fmt::Display for Ec2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl Ec2Error {
    fn local(message: String) -> Ec2Error {
        Ec2Error { code: None, message, status: None, failure: Failure::Local }
    }

    /// Throttled: the request was refused, so it did not run.
    fn throttled(&self) -> bool {
        self.code.as_deref().is_some_and(|c| RETRYABLE_CODES.contains(&c))
    }

    /// Worth another attempt of `action`: throttling, a server error, no answer; for a create
    /// (not idempotent: EC2 takes no client token for these), only when it did not run.
    fn transient(&self, action: &str) -> bool {
        let ran_maybe = match self.failure {
            Failure::Local => return false,
            Failure::Transport { connect } => !connect,
            Failure::Service => !self.throttled(),
        };
        if action.starts_with("Create") && ran_maybe {
            return false;
        }
        match self.failure {
            Failure::Service => self.throttled() || self.status.is_some_and(|s| s >= 500),
            _ => true,
        }
    }

    /// As `cloud::classify` does for the SDK's errors: `not_found` codes, retryable codes,
    /// transport errors, or the service's code.
    pub fn classify(self, not_found: &[&str]) -> CloudError {
        let text = self.to_string();
        match (self.failure, self.code) {
            (Failure::Local, _) => CloudError::Fatal(text),
            (_, Some(code)) if not_found.contains(&code.as_str()) => CloudError::NotFound(text),
            (_, Some(code)) if RETRYABLE_CODES.contains(&code.as_str()) => {
                CloudError::Retryable(text)
            }
            (_, Some(code)) if self.status.is_some_and(|s| s >= 500) => {
                CloudError::Retryable(format!("{code}: {text}"))
            }
            (_, Some(code)) => CloudError::Service { code, message: text },
            // No answer: the engine looks again (a create that may have run is found by name).
            (_, None) => CloudError::Retryable(text),
        }
    }
}

/// One element of an answer: its local name, its text, its children.
#[derive(Debug, Clone, Default)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    fn of(node: roxmltree::Node<'_, '_>) -> Element {
        Element {
            name: node.tag_name().name().to_string(),
            text: node.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect(),
            children: node.children().filter(|c| c.is_element()).map(Element::of).collect(),
        }
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// A child's text (`None`: no such child).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// The `item`s of a list child (`vpcSet`, `tagSet`, ...).
    pub fn items(&self, list: &str) -> Vec<&Element> {
        self.child(list)
            .map(|l| l.children.iter().filter(|c| c.name == "item").collect())
            .unwrap_or_default()
    }

    /// Its `tagSet` as a map.
    pub fn tags(&self) -> BTreeMap<String, String> {
        self.items("tagSet")
            .into_iter()
            .map(|t| {
                (
                    t.get("key").unwrap_or_default().to_string(),
                    t.get("value").unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

/// One request being built: the action and its form parameters.
pub struct Request<'a> {
    ec2: &'a Ec2,
    action: &'static str,
    params: Vec<(String, String)>,
    filters: usize,
}

impl Ec2 {
    /// EC2 as the SDK configuration says: `AWS_ENDPOINT_URL_EC2`, the configured endpoint (the
    /// local cloud's), or the region's in its partition.
    pub fn new(sdk: &aws_config::SdkConfig, calls: Arc<CallCounter>) -> anyhow::Result<Ec2> {
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        if sdk.use_fips() == Some(true) || sdk.use_dual_stack() == Some(true) {
            anyhow::bail!(
                "FIPS or dual-stack endpoints are set (AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT): the provisioner's EC2 calls do not support them\n  hint: unset them, or set AWS_ENDPOINT_URL_EC2 to the endpoint to use"
            );
        }
        let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2")
            .ok()
            .or_else(|| sdk.endpoint_url().map(str::to_string))
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| {
                let domain =
                    if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
                format!("https://ec2.{region}.{domain}")
            });
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build()?;
        Ok(Ec2 {
            http,
            endpoint,
            region,
            credentials: sdk.credentials_provider(),
            cached: Arc::default(),
            calls,
        })
    }

    /// The credentials to sign with: the cached ones, or the provider's anew 5 minutes before
    /// they expire.
    async fn credentials(&self) -> Result<Credentials, Ec2Error> {
        let mut cached = self.cached.lock().await;
        let fresh = |c: &Credentials| {
            c.expiry().is_none_or(|t| t > SystemTime::now() + Duration::from_secs(300))
        };
        if let Some(c) = cached.as_ref().filter(|c| fresh(c)) {
            return Ok(c.clone());
        }
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| Ec2Error::local("no AWS credentials are configured".into()))?;
        let c = provider
            .provide_credentials()
            .await
            .map_err(|e| Ec2Error::local(format!("no AWS credentials: {e}")))?;
        *cached = Some(c.clone());
        Ok(c)
    }

    fn request(&self, action: &'static str) -> Request<'_> {
        Request { ec2: self, action, params: Vec::new(), filters: 0 }
    }

    pub fn create_vpc(&self) -> Request<'_> {
        self.request("CreateVpc")
    }
    pub fn describe_vpcs(&self) -> Request<'_> {
        self.request("DescribeVpcs")
    }
    pub fn delete_vpc(&self) -> Request<'_> {
        self.request("DeleteVpc")
    }
    pub fn create_subnet(&self) -> Request<'_> {
        self.request("CreateSubnet")
    }
    pub fn describe_subnets(&self) -> Request<'_> {
        self.request("DescribeSubnets")
    }
    pub fn delete_subnet(&self) -> Request<'_> {
        self.request("DeleteSubnet")
    }
    pub fn describe_availability_zones(&self) -> Request<'_> {
        self.request("DescribeAvailabilityZones")
    }
    pub fn create_security_group(&self) -> Request<'_> {
        self.request("CreateSecurityGroup")
    }
    pub fn describe_security_groups(&self) -> Request<'_> {
        self.request("DescribeSecurityGroups")
    }
    pub fn delete_security_group(&self) -> Request<'_> {
        self.request("DeleteSecurityGroup")
    }
}

impl Request<'_> {
    /// A parameter, by its Query name (`CidrBlock`, `VpcId`, ...).
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.to_string(), value.to_string()));
        self
    }

    /// A `Filter.N` with its values.
    pub fn filter(mut self, name: &str, values: &[&str]) -> Self {
        self.filters += 1;
        let n = self.filters;
        self.params.push((format!("Filter.{n}.Name"), name.to_string()));
        for (i, v) in values.iter().enumerate() {
            self.params.push((format!("Filter.{n}.Value.{}", i + 1), v.to_string()));
        }
        self
    }

    /// The tags the created resource carries from its creation (`TagSpecification.1`).
    pub fn tags(mut self, resource_type: &str, tags: &[(String, String)]) -> Self {
        self.params.push(("TagSpecification.1.ResourceType".into(), resource_type.into()));
        for (i, (k, v)) in tags.iter().enumerate() {
            self.params.push((format!("TagSpecification.1.Tag.{}.Key", i + 1), k.clone()));
            self.params.push((format!("TagSpecification.1.Tag.{}.Value", i + 1), v.clone()));
        }
        self
    }

    /// The form body: Action, Version, then the parameters in the order given.
    fn body(&self) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", self.action).append_pair("Version", VERSION);
        for (k, v) in &self.params {
            form.append_pair(k, v);
        }
        form.finish()
    }

    /// Sends it, retrying what is transient as the SDK's standard mode does; the answer's root.
    pub async fn send(self) -> Result<Element, Ec2Error> {
        let body = self.body();
        self.ec2.calls.count(self.action);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.once(&body).await {
                Err(e) if e.transient(self.action) && attempt < ATTEMPTS => {
                    // The SDK's standard mode: min(1 s x 2^(n-1), 20 s), full jitter.
                    let cap =
                        Duration::from_secs(1 << (attempt - 1).min(5)).min(Duration::from_secs(20));
                    tokio::time::sleep(cap.mul_f64(rand::random::<f64>())).await;
                }
                answer => return answer,
            }
        }
    }

    async fn once(&self, body: &str) -> Result<Element, Ec2Error> {
        let local = Ec2Error::local;
        let identity = self.ec2.credentials().await?.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.ec2.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| local(format!("cannot sign: {e}")))?
            .into();
        let url = format!("{}/", self.ec2.endpoint);
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let mut request = http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("content-type", content_type)
            .body(body.to_string())
            .map_err(|e| local(format!("cannot build the request: {e}")))?;
        let headers = [("content-type", content_type)];
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| local(format!("cannot sign: {e}")))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|e| local(format!("cannot sign: {e}")))?.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        // As the SDK interceptor does for every other service, each attempt.
        if let Some(path) = std::env::var_os("XTASK_RECORD_REQUESTS") {
            let mut headers = serde_json::Map::new();
            headers.insert("content-type".into(), content_type.into());
            let recorded = super::Recorded {
                service: "ec2",
                operation: self.action,
                method: "POST",
                uri: &url,
                headers,
                body: Some(body.as_bytes()),
            };
            super::record_request(&path, &recorded)
                .map_err(|e| local(format!("cannot record the request: {e}")))?;
        }
        let request = reqwest::Request::try_from(request)
            .map_err(|e| local(format!("cannot build the request: {e}")))?;
        let response = self.ec2.http.execute(request).await.map_err(|e| Ec2Error {
            code: None,
            message: format!("EC2 {} at {url}: {e}", self.action),
            status: None,
            failure: Failure::Transport { connect: e.is_connect() },
        })?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| Ec2Error {
            code: None,
            message: format!("EC2 {}: {e}", self.action),
            status: Some(status),
            failure: Failure::Transport { connect: false },
        })?;
        let doc = roxmltree::Document::parse(&text).map_err(|e| Ec2Error {
            code: (status < 500).then(|| format!("HTTP{status}")),
            message: format!("EC2 {} answered HTTP {status} with no XML: {e}", self.action),
            status: Some(status),
            failure: Failure::Service,
        })?;
        let root = Element::of(doc.root_element());
        if (200..300).contains(&status) {
            return Ok(root);
        }
        // <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>
        let error = root.child("Errors").and_then(|e| e.child("Error"));
        let message = error.and_then(|e| e.get("Message")).unwrap_or("no message");
        Err(Ec2Error {
            code: Some(
                error.and_then(|e| e.get("Code")).map_or(format!("HTTP{status}"), str::to_string),
            ),
            message: match root.get("RequestID") {
                Some(id) => format!("{message} (request id {id})"),
                None => message.to_string(),
            },
            status: Some(status),
            failure: Failure::Service,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec2() -> Ec2 {
        Ec2 {
            http: reqwest::Client::new(),
            endpoint: "http://127.0.0.1:1".into(),
            region: "us-east-1".into(),
            credentials: None,
            cached: Arc::default(),
            calls: Arc::new(CallCounter::default()),
        }
    }

    /// A provider that counts how often it is asked, its credentials expiring in `expires_in`.
    #[derive(Debug)]
    struct Counting(std::sync::atomic::AtomicUsize, Duration);

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let expiry = SystemTime::now() + self.1;
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                "AKID",
                "secret",
                None,
                Some(expiry),
                "test",
            )))
        }
    }

    /// The credentials are asked for once while they last (as the SDK's identity cache), and
    /// anew within 5 minutes of their expiry: not once per request.
    #[tokio::test]
    async fn credentials_are_cached_until_they_near_expiry() {
        for (lasting, asked) in [(Duration::from_secs(3600), 1), (Duration::from_secs(60), 3)] {
            let provider = Arc::new(Counting(Default::default(), lasting));
            let e = Ec2 {
                credentials: Some(SharedCredentialsProvider::new(CountingRef(provider.clone()))),
                ..ec2()
            };
            for _ in 0..3 {
                e.credentials().await.unwrap();
            }
            assert_eq!(provider.0.load(std::sync::atomic::Ordering::SeqCst), asked, "{lasting:?}");
        }
    }

    /// `Counting` shared, so that the test can read its count.
    #[derive(Debug)]
    struct CountingRef(Arc<Counting>);

    impl ProvideCredentials for CountingRef {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.0.provide_credentials()
        }
    }

    #[test]
    fn a_request_is_the_query_form_botocore_describes() {
        let e = ec2();
        let body = e
            .create_subnet()
            .param("VpcId", "vpc-1")
            .param("CidrBlock", "10.42.1.0/24")
            .tags(
                "subnet",
                &[
                    ("Name".into(), "agentcore-mt-pr-1-t2-subnet-a".into()),
                    ("a:b".into(), "c d".into()),
                ],
            )
            .body();
        assert_eq!(
            body,
            "Action=CreateSubnet&Version=2016-11-15&VpcId=vpc-1&CidrBlock=10.42.1.0%2F24\
             &TagSpecification.1.ResourceType=subnet\
             &TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=agentcore-mt-pr-1-t2-subnet-a\
             &TagSpecification.1.Tag.2.Key=a%3Ab&TagSpecification.1.Tag.2.Value=c+d"
        );
        let body = e
            .describe_security_groups()
            .filter("group-name", &["g"])
            .filter("vpc-id", &["v1", "v2"])
            .body();
        assert_eq!(
            body,
            "Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=group-name&Filter.1.Value.1=g\
             &Filter.2.Name=vpc-id&Filter.2.Value.1=v1&Filter.2.Value.2=v2"
        );
    }

    #[test]
    fn answers_and_errors_are_read_by_name() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r</requestId>
  <vpcSet><item><vpcId>vpc-1</vpcId><cidrBlock>10.42.0.0/16</cidrBlock>
    <tagSet><item><key>Name</key><value>n</value></item><item><key>agentcore-mt:env</key><value>pr-1</value></item></tagSet>
  </item></vpcSet>
</DescribeVpcsResponse>"#;
        let doc = roxmltree::Document::parse(xml).unwrap();
        let root = Element::of(doc.root_element());
        let vpcs = root.items("vpcSet");
        assert_eq!(vpcs.len(), 1);
        assert_eq!(vpcs[0].get("vpcId"), Some("vpc-1"));
        assert_eq!(vpcs[0].tags()["agentcore-mt:env"], "pr-1");
        assert!(root.items("subnetSet").is_empty());
        let service = |code: &str, status| Ec2Error {
            code: Some(code.into()),
            message: "m".into(),
            status: Some(status),
            failure: Failure::Service,
        };
        assert!(matches!(
            service("InvalidVpcID.NotFound", 400).classify(&["InvalidVpcID.NotFound"]),
            CloudError::NotFound(_)
        ));
        let throttled = service("RequestLimitExceeded", 503);
        assert!(throttled.transient("DescribeVpcs") && throttled.transient("CreateVpc"));
        assert!(matches!(throttled.classify(&[]), CloudError::Retryable(_)));
        let refused = service("UnauthorizedOperation", 403);
        assert!(!refused.transient("DescribeVpcs"));
        assert!(matches!(refused.classify(&[]), CloudError::Service { .. }));
        // A create that may have run is not sent again: the engine looks for it by name.
        let unavailable = service("Unavailable", 503);
        assert!(unavailable.transient("DescribeVpcs") && !unavailable.transient("CreateVpc"));
        let lost = |connect| Ec2Error {
            code: None,
            message: "m".into(),
            status: None,
            failure: Failure::Transport { connect },
        };
        assert!(lost(true).transient("CreateSubnet") && !lost(false).transient("CreateSubnet"));
        assert!(matches!(lost(false).classify(&[]), CloudError::Retryable(_)));
        // Nothing to retry in what fails here.
        let local = Ec2Error::local("no AWS credentials".into());
        assert!(!local.transient("DescribeVpcs"));
        assert!(matches!(local.classify(&[]), CloudError::Fatal(_)));
    }
}
