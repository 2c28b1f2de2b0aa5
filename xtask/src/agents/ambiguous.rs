//! Verify cases for requests that are ambiguous or that bypass a layer: two `Authorization`
//! headers (a valid token and a forged copy, in both orders and in different letter case), a
//! forged token sent straight to the agent's own port (where the local cloud exposes it), and a
//! payload over InvokeAgentRuntime's limit. None of them may ever be answered (2xx).
//!
//! The forged copy is the caller's valid access token with another demo user's identity claims
//! (`sub`, `username`, `cognito:groups`) pasted in and the original signature kept: exactly what
//! an authorizer that checks one header while the agent reads the other would let through.

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{excerpt, session_id, with_payload, Answer, SESSION_HEADER};

/// InvokeAgentRuntime's payload limit (100 MB); verify sends one byte more.
pub const MAX_PAYLOAD: usize = 100 * 1000 * 1000;

/// `good` with the identity claims of `other` (another demo user's access token) pasted in.
pub fn forged(good: &str, other: &str) -> Result<String> {
    let other: Value =
        serde_json::from_slice(&super::B64.decode(other.split('.').nth(1).context("not a JWT")?)?)?;
    with_payload(good, |p| {
        for claim in ["sub", "username", "cognito:groups"] {
            match other.get(claim) {
                Some(v) => p[claim] = v.clone(),
                None => {
                    if let Some(o) = p.as_object_mut() {
                        o.remove(claim);
                    }
                }
            }
        }
    })
}

/// POSTs `body` with exactly these headers, in this order and letter case. Over plain HTTP the
/// request is written by hand (HTTP clients merge or normalise header names); over HTTPS, where
/// that is not possible here, through reqwest, which keeps duplicates but lowercases names:
/// `None` then means the case cannot be expressed.
pub async fn post_raw(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Option<Answer>> {
    let Some(rest) = url.strip_prefix("http://") else {
        let case_differs = headers
            .iter()
            .any(|(a, _)| headers.iter().any(|(b, _)| a.eq_ignore_ascii_case(b) && a != b));
        if case_differs {
            return Ok(None);
        }
        let mut req = reqwest::Client::new()
            .post(url)
            .header("Content-Type", "application/json")
            .header(SESSION_HEADER, session_id())
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        return Ok(Some(Answer { status, text }));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n{SESSION_HEADER}: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        if path.is_empty() { "/" } else { path },
        session_id(),
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await?;
        stream.write_all(request.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(std::time::Duration::from_secs(120), exchange)
        .await
        .with_context(|| format!("{url} did not answer within 120 s"))?
        .with_context(|| format!("cannot reach {url}"))?;
    let text = String::from_utf8_lossy(&response);
    let Some(status) = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
    else {
        bail!("{url} answered no HTTP status: {}", excerpt(&text));
    };
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    Ok(Some(Answer { status, text: body.to_string() }))
}

/// The agents the local runtime host runs, by runtime id: their own port on 127.0.0.1.
pub async fn agent_ports(base_url: &str) -> Result<std::collections::BTreeMap<String, u16>> {
    let url = format!("{}/local/agents", base_url.trim_end_matches('/'));
    let body =
        reqwest::get(&url).await.with_context(|| format!("cannot reach {url}"))?.text().await?;
    let v: Value = serde_json::from_str(&body).with_context(|| format!("{url}: not JSON"))?;
    Ok(v["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| Some((a["runtime_id"].as_str()?.to_string(), a["port"].as_u64()? as u16)))
        .collect())
}

/// A JSON payload one byte over InvokeAgentRuntime's limit, built without a JSON encoder.
pub fn oversized_payload() -> Vec<u8> {
    let mut body = Vec::with_capacity(MAX_PAYLOAD + 1);
    body.extend_from_slice(br#"{"prompt":""#);
    body.resize(MAX_PAYLOAD - 1, b'x');
    body.extend_from_slice(br#""}"#);
    body
}

/// An answer to one of these requests passes when it is not an answer: any status but 2xx.
pub fn refused(a: &Answer) -> Result<(), String> {
    if (200..300).contains(&a.status) {
        Err(format!("answered {}: {}", a.status, excerpt(&a.text)))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_oversized_payload_is_one_byte_over_the_limit_and_valid_json() {
        let body = oversized_payload();
        assert_eq!(body.len(), MAX_PAYLOAD + 1);
        // {"prompt":"xxx…x"}: a JSON object whose one string holds nothing to escape.
        let (head, tail) = (br#"{"prompt":""#, br#""}"#);
        assert!(body.starts_with(head) && body.ends_with(tail));
        assert!(body[head.len()..body.len() - tail.len()].iter().all(|b| *b == b'x'));
        let small = [&head[..], b"xx", &tail[..]].concat();
        assert_eq!(serde_json::from_slice::<Value>(&small).unwrap(), json!({"prompt": "xx"}));
    }

    fn jwt(claims: Value) -> String {
        format!(
            "{}.{}.{}",
            super::super::B64.encode(r#"{"alg":"RS256","kid":"k"}"#),
            super::super::B64.encode(claims.to_string()),
            super::super::B64.encode([9u8; 64])
        )
    }

    #[test]
    fn a_forged_copy_keeps_the_signature_and_takes_the_other_users_identity() {
        let good =
            jwt(json!({"sub": "a", "username": "mike", "client_id": "c", "token_use": "access"}));
        let other = jwt(json!({"sub": "b", "username": "emma", "cognito:groups": ["platinum"]}));
        let f = forged(&good, &other).unwrap();
        assert_eq!(f.rsplit('.').next(), good.rsplit('.').next());
        let claims: Value = serde_json::from_slice(
            &super::super::B64.decode(f.split('.').nth(1).unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(claims["sub"], "b");
        assert_eq!(claims["username"], "emma");
        assert_eq!(claims["cognito:groups"], json!(["platinum"]));
        assert_eq!(claims["client_id"], "c");
    }

    #[tokio::test]
    async fn raw_requests_keep_header_order_and_letter_case() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/runtimes/x/invocations?qualifier=DEFAULT",
            listener.local_addr().unwrap()
        );
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.0 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{\"message\":\"no\"}").await.unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        });
        let a = post_raw(
            &url,
            &[("authorization", "Bearer one"), ("AUTHORIZATION", "Bearer two")],
            b"{}",
        )
        .await
        .unwrap()
        .unwrap();
        let seen = server.await.unwrap();
        assert_eq!(a.status, 400);
        assert!(refused(&a).is_ok());
        let one = seen.find("authorization: Bearer one").unwrap();
        let two = seen.find("AUTHORIZATION: Bearer two").unwrap();
        assert!(one < two, "{seen}");
        assert!(seen.starts_with("POST /runtimes/x/invocations?qualifier=DEFAULT HTTP/1.1\r\n"));
    }
}
