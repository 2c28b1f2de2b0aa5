"""A bounded burst of invocations against the local runtime host (loopback only): every request
gets an HTTP answer (200, or 429 ThrottlingException as AWS answers excess load), none a reset
connection, no answer crosses a tier or tenant, and every 200 is a whole answer (no error the
agent passed on). Prints a JSON report.

usage: load.py MINISTACK_URL RUNTIME_HOST_URL OUTPUTS_JSON REQUESTS CONCURRENCY
"""
import concurrent.futures
import http.client
import json
import sys
import time
import urllib.parse
import uuid

import boto3


# user -> (stack, prompt, what must be in the answer, what must never be)
USERS = {
    "john-regular": ("unstructured-rag", "What is the deductible for auto insurance?", "(tier regular)", "(tier platinum)"),
    "sarah-platinum": ("unstructured-rag", "What is the deductible for auto insurance?", "(tier platinum)", "(tier regular)"),
    "mike-broker-a": ("structured-rls", "Show me all claims", "CLM-A-001", "CLM-B-"),
    "emma-broker-b": ("structured-rls", "Show me all claims", "CLM-B-001", "CLM-A-"),
}
AGENT = {"unstructured-rag": "policy_agent", "structured-rls": "claims_agent"}


def sign_in(ministack, outputs):
    """Each demo user's access token (passwords from the environment's secrets)."""
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    idp = session.client("cognito-idp", endpoint_url=ministack)
    sm = session.client("secretsmanager", endpoint_url=ministack)
    tokens = {}
    for user, (stack, *_rest) in USERS.items():
        out = outputs[stack]
        password = json.loads(sm.get_secret_value(SecretId=out["demo_passwords"]["arn"])["SecretString"])[user]
        auth = idp.initiate_auth(ClientId=out["app_client"]["id"], AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": user, "PASSWORD": password})
        tokens[user] = auth["AuthenticationResult"]["AccessToken"]
    return tokens


def post(host, outputs, user, token, headers=()):
    """(status, text) of one invocation as `user`, with `headers` (pairs, repeats allowed)."""
    stack, prompt, *_rest = USERS[user]
    arn = outputs[stack][AGENT[stack]]["arn"]
    url = urllib.parse.urlsplit(host)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    try:
        conn.putrequest("POST", f"/runtimes/{urllib.parse.quote(arn, safe='')}/invocations?qualifier=DEFAULT")
        body = json.dumps({"prompt": prompt}).encode()
        for k, v in [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"),
                     ("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", f"load-{uuid.uuid4()}"),
                     ("Content-Length", str(len(body))), *headers]:
            conn.putheader(k, v)
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def one(host, outputs, tokens, i):
    user = list(USERS)[i % len(USERS)]
    stack, prompt, must, never = USERS[user]
    start = time.monotonic()
    try:
        status, text = post(host, outputs, user, tokens[user])
    except OSError as e:
        return {"user": user, "status": None, "error": f"{type(e).__name__}: {e}", "seconds": time.monotonic() - start}
    crossed = status == 200 and never in text
    incomplete = status == 200 and must not in text
    return {"user": user, "status": status, "crossed": crossed, "incomplete": incomplete, "seconds": time.monotonic() - start, "excerpt": text[-300:] if crossed or incomplete else ""}


def main():
    ministack, host, outputs_path, total, concurrency = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    outputs = json.load(open(outputs_path))
    tokens = sign_in(ministack, outputs)
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda i: one(host, outputs, tokens, i), range(total)))
    statuses = {}
    for r in results:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    times = sorted(r["seconds"] for r in results)
    print(json.dumps({
        "requests": total,
        "concurrency": concurrency,
        "statuses": statuses,
        "errors": [r for r in results if r["status"] is None][:5],
        "crossed": [r for r in results if r.get("crossed")][:5],
        "incomplete": [r for r in results if r.get("incomplete")][:5],
        "p50_seconds": round(times[len(times) // 2], 3),
        "p99_seconds": round(times[int(len(times) * 0.99) - 1], 3),
    }))


if __name__ == "__main__":
    main()
