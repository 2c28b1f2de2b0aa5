"""The local AgentCore Gateway end to end, with real parts: a Cognito pool whose pre token
generation trigger (V2_0, a Lambda) puts the user's tenant into the access token, a gateway with
that pool's JWT authorizer and a policy engine in ENFORCE mode holding the repository's Cedar
policies, a Lambda target with the claims tools, and MCP requests to the gateway's URL as each
broker and as an attacker with a valid token and forged arguments.

Usage: gateway_mcp.py MINISTACK_URL RUNTIME_HOST_URL. Prints {"cases": [...], "failed": [...]}.
"""

import base64
import io
import json
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "xtask/local-cloud"))
import cedar_gateway  # noqa: E402
from checks import check, report, wait  # noqa: E402

ministack, host = sys.argv[1], sys.argv[2]
session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
idp = session.client("cognito-idp", endpoint_url=ministack)
lam = session.client("lambda", endpoint_url=ministack)
ac = session.client("bedrock-agentcore-control", endpoint_url=ministack)
ROLE = "arn:aws:iam::000000000000:role/agentcore-mt-pr-1-t4-role"


def function(name, source):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lambda_function.py", source)
    arn = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="lambda_function.handler",
                              Code={"ZipFile": buf.getvalue()})["FunctionArn"]
    wait(lambda: lam.get_function(FunctionName=name)["Configuration"], "State", ("Active",))
    return arn


# The pool: the tenant is a custom attribute; the trigger copies it into the access token.
trigger = function("agentcore-mt-pr-1-t4-pre-token", '''
def handler(event, context):
    tenant = event["request"]["userAttributes"].get("custom:tenant_id", "")
    event["response"] = {"claimsAndScopeOverrideDetails": {
        "accessTokenGeneration": {"claimsToAddOrOverride": {"tenant_id": tenant}}}}
    return event
''')
pool = idp.create_user_pool(
    PoolName="agentcore-mt-pr-1-t4-pool",
    Schema=[{"Name": "tenant_id", "AttributeDataType": "String", "Mutable": True}],
    LambdaConfig={"PreTokenGenerationConfig": {"LambdaVersion": "V2_0", "LambdaArn": trigger}},
)["UserPool"]["Id"]
# Users may write their name, not their tenant (as the deployed clients: WriteAttributes).
client = idp.create_user_pool_client(UserPoolId=pool, ClientName="app", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
                                     WriteAttributes=["name"])["UserPoolClient"]["ClientId"]
other = idp.create_user_pool_client(UserPoolId=pool, ClientName="other", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
idp.create_group(UserPoolId=pool, GroupName="senior-broker")
# Every class the default policy asks for, fixed, then randomness: base32 alone has no digit in 1 of 28 draws.
PASSWORD = "Pw-7" + base64.b32encode(__import__("os").urandom(10)).decode().lower()
for user, tenant in [("mike", "broker-a"), ("emma", "broker-b"), ("sara", "broker-a")]:
    idp.admin_create_user(UserPoolId=pool, Username=user, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "custom:tenant_id", "Value": tenant}])
    idp.admin_set_user_password(UserPoolId=pool, Username=user, Password=PASSWORD, Permanent=True)
idp.admin_add_user_to_group(UserPoolId=pool, Username="sara", GroupName="senior-broker")


def token(user, client_id=client):
    # The trigger is a Lambda run in a process of its own: its first start can be slow on a busy
    # machine, and the emulator's sign-in fails meanwhile. Three tries, a second apart.
    for attempt in range(3):
        try:
            out = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
            return out["AuthenticationResult"]["AccessToken"]
        except idp.exceptions.ClientError as e:
            if attempt == 2 or e.response["Error"]["Code"] == "NotAuthorizedException":
                raise
            time.sleep(1)


def claims(t):
    body = t.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


mike, emma, sara = token("mike"), token("emma"), token("sara")
check("the trigger puts the tenant into the access token", claims(mike).get("tenant_id") == "broker-a" and claims(emma).get("tenant_id") == "broker-b", claims(mike))

# The tools: a Lambda that answers with what it was called with.
tools_fn = function("agentcore-mt-pr-1-t4-tools", '''
import json
def handler(event, context):
    custom = getattr(getattr(context, "client_context", None), "custom", None) or {}
    return {"tool": custom.get("bedrockAgentCoreToolName"), "arguments": event}
''')

engine = ac.create_policy_engine(name="agentcore_mt_pr_1_t4_mcp")
eid = engine["policyEngineId"]
wait(lambda: ac.get_policy_engine(policyEngineId=eid), "status", ("ACTIVE",))
discovery = f"https://cognito-idp.us-east-1.amazonaws.com/{pool}/.well-known/openid-configuration"
gw = ac.create_gateway(name="agentcore-mt-pr-1-t4-mcp", roleArn=ROLE, protocolType="MCP", authorizerType="CUSTOM_JWT",
                       authorizerConfiguration={"customJWTAuthorizer": {"discoveryUrl": discovery, "allowedClients": [client]}},
                       policyEngineConfiguration={"arn": engine["policyEngineArn"], "mode": "ENFORCE"})
gid = gw["gatewayId"]
wait(lambda: ac.get_gateway(gatewayIdentifier=gid), "status", ("READY",))
spec = json.loads((ROOT / "agents/tools/tools.json").read_text())
target = ac.create_gateway_target(gatewayIdentifier=gid, name=spec["target"],
                                  targetConfiguration={"mcp": {"lambda": {"lambdaArn": tools_fn, "toolSchema": {"inlinePayload": spec["tools"]}}}},
                                  credentialProviderConfigurations=[{"credentialProviderType": "GATEWAY_IAM_ROLE"}])
wait(lambda: ac.get_gateway_target(gatewayIdentifier=gid, targetId=target["targetId"]), "status", ("READY",))
text = (ROOT / "agents/tools/policies/claims_tools.cedar").read_text().replace("{{gateway_arn}}", gw["gatewayArn"])
for name, statement in cedar_gateway.split(text):
    p = ac.create_policy(policyEngineId=eid, name=f"agentcore_mt_pr_1_{name}"[:48], definition={"cedar": {"statement": statement}})
    got = wait(lambda: ac.get_policy(policyEngineId=eid, policyId=p["policyId"]), "status", ("ACTIVE", "CREATE_FAILED"))
    check(f"policy {name} is ACTIVE", got["status"] == "ACTIVE", got.get("statusReasons"))

URL = f"{host}/gateways/{gid}/mcp"
n = 0


def rpc(bearer, method, params=None, raw=None, headers=None):
    global n
    n += 1
    data = raw if raw is not None else json.dumps({"jsonrpc": "2.0", "id": n, "method": method, "params": params or {}}).encode()
    req = urllib.request.Request(URL, data=data, method="POST", headers={"Content-Type": "application/json", **(headers or {})})
    if bearer:
        req.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def call(bearer, tool, arguments):
    return rpc(bearer, "tools/call", {"name": f"{spec['target']}___{tool}", "arguments": arguments})


status, out = rpc(mike, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}})
check("initialize answers as an MCP server", status == 200 and out["result"]["capabilities"] == {"tools": {}}, out)
status, out = rpc(mike, "tools/list")
names = sorted(t["name"] for t in (out or {}).get("result", {}).get("tools", [])) or out
check("tools/list names each tool <target>___<tool>", names == ["ClaimsTools___file_claim", "ClaimsTools___get_claim", "ClaimsTools___list_my_claims"], names)


def allowed(name, bearer, tool, arguments):
    status, out = call(bearer, tool, arguments)
    result = (out or {}).get("result") or {}
    answer = json.loads(result["content"][0]["text"]) if result.get("content") and not result.get("isError") else None
    check(name, status == 200 and answer is not None and answer["arguments"] == arguments
          and answer["tool"] in (None, f"{spec['target']}___{tool}"), out)


def denied(name, bearer, tool, arguments, why="No policy applies to the request (denied by default)."):
    status, out = call(bearer, tool, arguments)
    result = (out or {}).get("result") or {}
    text = (result.get("content") or [{}])[0].get("text", "")
    check(name, status == 200 and result.get("isError") is True
          and text == f"AuthorizeActionException - Tool Execution Denied: Tool call not allowed due to policy enforcement [{why}]", out)


allowed("mike lists broker-a's claims (his tenant)", mike, "list_my_claims", {"tenant_id": "broker-a"})
allowed("emma lists broker-b's claims (hers)", emma, "list_my_claims", {"tenant_id": "broker-b"})
denied("mike, with his own valid token, asks for broker-b's claims: the policy engine denies", mike, "list_my_claims", {"tenant_id": "broker-b"})
denied("emma asks for broker-a's claim CLM-A-001", emma, "get_claim", {"tenant_id": "broker-a", "claim_id": "CLM-A-001"})
allowed("mike files a claim of 900 USD for his tenant", mike, "file_claim", {"tenant_id": "broker-a", "policy_holder": "Alice", "claim_type": "auto", "amount_usd": 900})
denied("mike files 25,000 USD: above the threshold without the senior group", mike, "file_claim", {"tenant_id": "broker-a", "policy_holder": "Alice", "claim_type": "auto", "amount_usd": 25000})
allowed("sara, a senior broker, files 25,000 USD for her tenant", sara, "file_claim", {"tenant_id": "broker-a", "policy_holder": "Bob", "claim_type": "home", "amount_usd": 25000})
denied("sara files 25,000 USD for the other tenant", sara, "file_claim", {"tenant_id": "broker-b", "policy_holder": "Bob", "claim_type": "home", "amount_usd": 25000})
denied("an argument the tool does not have (as_tenant)", mike, "list_my_claims", {"tenant_id": "broker-a", "as_tenant": "broker-b"},
       "The request could not be evaluated.")
denied("a tool the gateway does not have", mike, "delete_all_claims", {"tenant_id": "broker-a"}, "The request could not be evaluated.")
denied("an amount written 1e4 (a float, not the tool's integer)", mike, "file_claim",
       {"tenant_id": "broker-a", "policy_holder": "Alice", "claim_type": "auto", "amount_usd": 1e4}, "The request could not be evaluated.")
status, out = rpc(mike, "tools/call", {"name": f"{spec['target']}___list_my_claims", "arguments": None})
check("arguments that are null are denied", status == 200 and (out.get("result") or {}).get("isError") is True, out)
# The tenant comes from an attribute only an administrator writes: mike cannot rewrite his.
try:
    idp.update_user_attributes(AccessToken=mike, UserAttributes=[{"Name": "custom:tenant_id", "Value": "broker-b"}])
    rewritten = claims(token("mike")).get("tenant_id")
except idp.exceptions.NotAuthorizedException:
    rewritten = None
check("a broker cannot rewrite his own tenant", rewritten in (None, "broker-a"), rewritten)
raw = b'{"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": {"name": "ClaimsTools___list_my_claims", "arguments": {"tenant_id": "broker-b", "tenant_id": "broker-a"}}}'
status, out = rpc(mike, None, raw=raw)
check("the tenant argument twice (the last his own) is refused before any decision", status == 200 and (out.get("error") or {}).get("code") == -32700, out)

# The authorizer, as configured: no token, a token of another client, a forged signature.
status, out = rpc(None, "tools/list")
check("no token: 401", status == 401, out)
status, out = rpc(token("mike", other), "tools/list")
check("a token of a client the authorizer does not allow: 403", status == 403, out)
head, body, sig = mike.split(".")
forged_claims = dict(claims(mike), tenant_id="broker-b")
forged = ".".join([head, base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).decode().rstrip("="), sig])
status, out = rpc(forged, "tools/list")
check("mike's token with the tenant rewritten (signature broken): 401", status == 401, out)
# Two Authorization headers (urllib would merge them): raw, with http.client.
import http.client  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402
u = urlsplit(URL)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
data = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode()
conn.putrequest("POST", u.path)
conn.putheader("Content-Type", "application/json")
conn.putheader("Content-Length", str(len(data)))
conn.putheader("Authorization", f"Bearer {mike}")
conn.putheader("Authorization", f"Bearer {emma}")
conn.endheaders(data)
answer = conn.getresponse()
check("two Authorization headers (whose token?): refused", answer.status == 400, answer.read()[:200])

# The engine's policies are what is enforced: with them deleted, ENFORCE denies everything.
for p in ac.list_policies(policyEngineId=eid)["policies"]:
    ac.delete_policy(policyEngineId=eid, policyId=p["policyId"])
wait(lambda: {"n": len(ac.list_policies(policyEngineId=eid)["policies"])}, "n", (0,))
denied("with no policy left, even mike's own tenant is denied (deny by default)", mike, "list_my_claims", {"tenant_id": "broker-a"})

ac.delete_gateway_target(gatewayIdentifier=gid, targetId=target["targetId"])
ac.delete_gateway(gatewayIdentifier=gid)
wait(lambda: {"n": len(ac.list_gateways()["items"])}, "n", (0,))
ac.delete_policy_engine(policyEngineId=eid)
report()
