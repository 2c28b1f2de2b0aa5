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

ministack, host, outputs_path, total, concurrency = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
idp = session.client("cognito-idp", endpoint_url=ministack)
sm = session.client("secretsmanager", endpoint_url=ministack)
outputs = json.load(open(outputs_path))

# user -> (stack, prompt, what must be in the answer, what must never be)
USERS = {
    "john-regular": ("unstructured-rag", "What is the deductible for auto insurance?", "(tier regular)", "(tier platinum)"),
    "sarah-platinum": ("unstructured-rag", "What is the deductible for auto insurance?", "(tier platinum)", "(tier regular)"),
    "mike-broker-a": ("structured-rls", "Show me all claims", "CLM-A-001", "CLM-B-"),
    "emma-broker-b": ("structured-rls", "Show me all claims", "CLM-B-001", "CLM-A-"),
}
AGENT = {"unstructured-rag": "policy_agent", "structured-rls": "claims_agent"}

tokens = {}
for user, (stack, *_rest) in USERS.items():
    out = outputs[stack]
    password = json.loads(sm.get_secret_value(SecretId=out["demo_passwords"]["arn"])["SecretString"])[user]
    auth = idp.initiate_auth(ClientId=out["app_client"]["id"], AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": user, "PASSWORD": password})
    tokens[user] = auth["AuthenticationResult"]["AccessToken"]

url = urllib.parse.urlsplit(host)


def one(i):
    user = list(USERS)[i % len(USERS)]
    stack, prompt, must, never = USERS[user]
    arn = outputs[stack][AGENT[stack]]["arn"]
    path = f"/runtimes/{urllib.parse.quote(arn, safe='')}/invocations?qualifier=DEFAULT"
    start = time.monotonic()
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    try:
        conn.request("POST", path, body=json.dumps({"prompt": prompt}), headers={
            "Authorization": f"Bearer {tokens[user]}",
            "Content-Type": "application/json",
            "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": f"load-{uuid.uuid4()}",
        })
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        status = r.status
    except OSError as e:
        return {"user": user, "status": None, "error": f"{type(e).__name__}: {e}", "seconds": time.monotonic() - start}
    finally:
        conn.close()
    crossed = status == 200 and never in text
    incomplete = status == 200 and must not in text
    return {"user": user, "status": status, "crossed": crossed, "incomplete": incomplete, "seconds": time.monotonic() - start, "excerpt": text[-300:] if crossed or incomplete else ""}


with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
    results = list(pool.map(one, range(total)))
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
