//! EC2, for the ten calls the network kinds make (a VPC, its subnets and security group, the
//! region's availability zones), through EC2's Query API: a form-encoded POST signed with SigV4
//! by the SDK's own signer (`aws-sigv4`), with the SDK configuration's credentials, region and
//! endpoint, answered in XML (`roxmltree`). Why not `aws-sdk-ec2`: that one crate is the whole
//! EC2 API (hundreds of operations) and took 212 s of a 378 s first build on two cores, alone in
//! one rustc (issue 24: a new machine's first deploy under six minutes). The calls keep the
//! SDK's shape (`ec2.describe_vpcs().filter(..).send()`), its standard retry mode (throttling,
//! 5xx and transport errors, up to 8 attempts with jittered exponential backoff), its 5 s
//! connect timeout and the run's call counting; errors are classified by their code as every
//! other service's are. The request shapes are checked against botocore's EC2 model by the
//! contract test, and every request against the deploy policy by the IAM evaluator.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
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
    calls: Arc<CallCounter>,
}

/// Why a call failed: the service's error code and message, or no code (transport).
#[derive(Debug)]
pub struct Ec2Error {
    pub code: Option<String>,
    pub message: String,
    pub status: Option<u16>,
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
    /// Worth another attempt: throttling, a server error, no answer.
    fn transient(&self) -> bool {
        match &self.code {
            Some(code) => {
                RETRYABLE_CODES.contains(&code.as_str()) || self.status.is_some_and(|s| s >= 500)
            }
            None => true,
        }
    }

    /// As `cloud::classify` does for the SDK's errors: `not_found` codes, retryable codes,
    /// transport errors, or the service's code.
    pub fn classify(self, not_found: &[&str]) -> CloudError {
        let text = self.to_string();
        match self.code {
            Some(code) if not_found.contains(&code.as_str()) => CloudError::NotFound(text),
            Some(code) if RETRYABLE_CODES.contains(&code.as_str()) => CloudError::Retryable(text),
            Some(code) => CloudError::Service { code, message: text },
            None => CloudError::Retryable(text),
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
    /// EC2 as the SDK configuration says: its endpoint (the local cloud's) or the region's.
    pub fn new(sdk: &aws_config::SdkConfig, calls: Arc<CallCounter>) -> anyhow::Result<Ec2> {
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let endpoint = sdk
            .endpoint_url()
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("https://ec2.{region}.amazonaws.com"));
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build()?;
        Ok(Ec2 { http, endpoint, region, credentials: sdk.credentials_provider(), calls })
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
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.ec2.calls.count(self.action);
            match self.once(&body).await {
                Err(e) if e.transient() && attempt < ATTEMPTS => {
                    // Exponential backoff with full jitter, 20 s at most (as the SDK's).
                    let cap = Duration::from_millis(100 * 2u64.pow(attempt.min(8)))
                        .min(Duration::from_secs(20));
                    tokio::time::sleep(cap.mul_f64(rand::random::<f64>())).await;
                }
                answer => return answer,
            }
        }
    }

    async fn once(&self, body: &str) -> Result<Element, Ec2Error> {
        let transport = |message: String| Ec2Error { code: None, message, status: None };
        let credentials = match &self.ec2.credentials {
            Some(p) => p
                .provide_credentials()
                .await
                .map_err(|e| transport(format!("no credentials: {e}")))?,
            None => return Err(transport("no credentials configured".into())),
        };
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.ec2.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| transport(format!("cannot sign: {e}")))?
            .into();
        let url = format!("{}/", self.ec2.endpoint);
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let mut request = http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("content-type", content_type)
            .body(body.to_string())
            .map_err(|e| transport(format!("cannot build the request: {e}")))?;
        let headers = [("content-type", content_type)];
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| transport(format!("cannot sign: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| transport(format!("cannot sign: {e}")))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);
        let request = reqwest::Request::try_from(request)
            .map_err(|e| transport(format!("cannot build the request: {e}")))?;
        let response = self
            .ec2
            .http
            .execute(request)
            .await
            .map_err(|e| transport(format!("EC2 {} at {url}: {e}", self.action)))?;
        let status = response.status().as_u16();
        let text =
            response.text().await.map_err(|e| transport(format!("EC2 {}: {e}", self.action)))?;
        let doc = roxmltree::Document::parse(&text).map_err(|e| Ec2Error {
            code: None,
            message: format!("EC2 {} answered HTTP {status} with no XML: {e}", self.action),
            status: Some(status),
        })?;
        let root = Element::of(doc.root_element());
        if (200..300).contains(&status) {
            return Ok(root);
        }
        // <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>
        let error = root.child("Errors").and_then(|e| e.child("Error"));
        Err(Ec2Error {
            code: error.and_then(|e| e.get("Code")).map(str::to_string),
            message: error.and_then(|e| e.get("Message")).unwrap_or("no message").to_string(),
            status: Some(status),
        }
        .with_code_or_status(status))
    }
}

impl Ec2Error {
    /// An error answer without a code still tells its status.
    fn with_code_or_status(mut self, status: u16) -> Self {
        if self.code.is_none() && status < 500 {
            self.code = Some(format!("HTTP{status}"));
        }
        self
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
            calls: Arc::new(CallCounter::default()),
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
        let not_found = Ec2Error {
            code: Some("InvalidVpcID.NotFound".into()),
            message: "m".into(),
            status: Some(400),
        };
        assert!(matches!(not_found.classify(&["InvalidVpcID.NotFound"]), CloudError::NotFound(_)));
        let throttled = Ec2Error {
            code: Some("RequestLimitExceeded".into()),
            message: "m".into(),
            status: Some(503),
        };
        assert!(throttled.transient());
        assert!(matches!(throttled.classify(&[]), CloudError::Retryable(_)));
        let refused = Ec2Error {
            code: Some("UnauthorizedOperation".into()),
            message: "m".into(),
            status: Some(403),
        };
        assert!(!refused.transient());
        assert!(matches!(refused.classify(&[]), CloudError::Service { .. }));
    }
}
