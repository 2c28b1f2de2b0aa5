"""The local AgentCore Gateway and Policy control plane (xtask/local-cloud/agentcore_control.py),
through boto3 and the pinned service model, as the provisioner will use it: what it accepts,
what it refuses as AWS documents, and how policies are validated against the gateway's tools.

Usage: agentcore_control.py MINISTACK_URL. Prints {"cases": [...], "failed": [...]}.
"""

import json
import sys
import time
from pathlib import Path

import boto3
import botocore.config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "xtask/local-cloud"))
import cedar_gateway  # noqa: E402
from checks import check, refused, report, wait  # noqa: E402

ministack = sys.argv[1]
session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
ac = session.client("bedrock-agentcore-control", endpoint_url=ministack)
# What a client that checks nothing sends (boto3 checks some shapes itself): the server's rules.
raw = session.client("bedrock-agentcore-control", endpoint_url=ministack,
                     config=botocore.config.Config(parameter_validation=False))


ROLE = "arn:aws:iam::000000000000:role/agentcore-mt-pr-1-t4-gateway-role"
DISCOVERY = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc/.well-known/openid-configuration"
AUTH = {"customJWTAuthorizer": {"discoveryUrl": DISCOVERY, "allowedClients": ["client1"]}}

# A policy engine: CREATING, then ACTIVE.
engine = ac.create_policy_engine(name="agentcore_mt_pr_1_t4_tools", tags={"agentcore-mt:env": "pr-1"})
check("a policy engine is CREATING when made", engine["status"] == "CREATING", engine["status"])
eid = engine["policyEngineId"]
got = wait(lambda: ac.get_policy_engine(policyEngineId=eid), "status", ("ACTIVE",))
check("then ACTIVE", got["status"] == "ACTIVE", got["status"])
refused("an engine name with a hyphen", "ValidationException", lambda: raw.create_policy_engine(name="agentcore-mt-pr-1"))

# A gateway with a JWT authorizer and the engine in ENFORCE mode: CREATING, then READY.
refused("a gateway name with an underscore", "ValidationException",
        lambda: raw.create_gateway(name="agentcore_mt", roleArn=ROLE, protocolType="MCP", authorizerType="CUSTOM_JWT", authorizerConfiguration=AUTH))
refused("CUSTOM_JWT without its configuration", "ValidationException",
        lambda: raw.create_gateway(name="gw-x", roleArn=ROLE, protocolType="MCP", authorizerType="CUSTOM_JWT"))
refused("a discovery URL that is not an OpenID configuration", "ValidationException",
        lambda: ac.create_gateway(name="gw-x", roleArn=ROLE, protocolType="MCP", authorizerType="CUSTOM_JWT",
                                  authorizerConfiguration={"customJWTAuthorizer": {"discoveryUrl": "https://example.com/jwks.json", "allowedClients": ["c"]}}))
refused("a role that is not a role ARN", "ValidationException",
        lambda: raw.create_gateway(name="gw-x", roleArn="arn:aws:iam::000000000000:user/u", protocolType="MCP", authorizerType="CUSTOM_JWT", authorizerConfiguration=AUTH))
refused("a policy engine that does not exist (CreateGateway's modeled error)", "ValidationException",
        lambda: ac.create_gateway(name="gw-x", roleArn=ROLE, protocolType="MCP", authorizerType="CUSTOM_JWT", authorizerConfiguration=AUTH,
                                  policyEngineConfiguration={"arn": engine["policyEngineArn"].replace(eid, "agentcore_mt_gone-abcdefghij"), "mode": "ENFORCE"}))
# Interceptors: Lambda function ARNs, at most one per interception point, the headers named.
FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:agentcore-mt-pr-1-t4-tenant-interceptor"


def interceptor(arn=FUNCTION, points=("REQUEST",), headers=True):
    item = {"interceptor": {"lambda": {"arn": arn}}, "interceptionPoints": list(points)}
    if headers is not None:
        item["inputConfiguration"] = {"passRequestHeaders": headers}
    return item


for why, items in [
    ("an interceptor that is not a Lambda function", [interceptor(arn="arn:aws:iam::000000000000:role/r")]),
    ("an interception point that does not exist", [interceptor(points=("BEFORE",))]),
    ("two REQUEST interceptors", [interceptor(), interceptor(arn=FUNCTION + "-2")]),
    ("three interceptors", [interceptor(), interceptor(points=("RESPONSE",)), interceptor(points=("RESPONSE",))]),
    ("an input configuration without passRequestHeaders", [dict(interceptor(), inputConfiguration={})]),
    ("no interceptor in the list", []),
]:
    refused(why, "ValidationException",
            lambda items=items: raw.create_gateway(name="gw-x", roleArn=ROLE, protocolType="MCP", authorizerType="CUSTOM_JWT",
                                                   authorizerConfiguration=AUTH, interceptorConfigurations=items))
gw = ac.create_gateway(name="agentcore-mt-pr-1-t4-tools", roleArn=ROLE, protocolType="MCP", authorizerType="CUSTOM_JWT",
                       authorizerConfiguration=AUTH, policyEngineConfiguration={"arn": engine["policyEngineArn"], "mode": "ENFORCE"},
                       tags={"agentcore-mt:env": "pr-1"})
gid = gw["gatewayId"]
check("a gateway is CREATING when made, its id its name and a suffix", gw["status"] == "CREATING" and gid.startswith("agentcore-mt-pr-1-t4-tools-"), gw)
check("its URL is the MCP endpoint", gw["gatewayUrl"].endswith(".amazonaws.com/mcp") and gid in gw["gatewayUrl"], gw["gatewayUrl"])
got = wait(lambda: ac.get_gateway(gatewayIdentifier=gid), "status", ("READY",))
check("then READY, with its engine in ENFORCE", got["status"] == "READY" and got["policyEngineConfiguration"]["mode"] == "ENFORCE", got)
refused("a gateway name taken", "ConflictException",
        lambda: ac.create_gateway(name="agentcore-mt-pr-1-t4-tools", roleArn=ROLE, protocolType="MCP", authorizerType="CUSTOM_JWT", authorizerConfiguration=AUTH))
tags = ac.list_tags_for_resource(resourceArn=gw["gatewayArn"])["tags"]
check("the gateway keeps the tags it was made with", tags == {"agentcore-mt:env": "pr-1"}, tags)

# An interceptor given with UpdateGateway is kept as given; an update without it (a full
# replacement) takes it off.
ENGINE_CONFIG = {"arn": engine["policyEngineArn"], "mode": "ENFORCE"}
full = dict(gatewayIdentifier=gid, name="agentcore-mt-pr-1-t4-tools", roleArn=ROLE, protocolType="MCP",
            authorizerType="CUSTOM_JWT", authorizerConfiguration=AUTH, policyEngineConfiguration=ENGINE_CONFIG)
ac.update_gateway(**full, interceptorConfigurations=[interceptor()])
got = wait(lambda: ac.get_gateway(gatewayIdentifier=gid), "status", ("READY",))
check("a REQUEST interceptor is kept as given, the headers passed", got.get("interceptorConfigurations") == [interceptor()], got)
ac.update_gateway(**full)
got = wait(lambda: ac.get_gateway(gatewayIdentifier=gid), "status", ("READY",))
check("an update that leaves the interceptors out takes them off", "interceptorConfigurations" not in got, got)

# A Lambda target with the claims tools: CREATING, then READY.
spec = json.loads((ROOT / "agents/tools/tools.json").read_text())
LAMBDA = "arn:aws:lambda:us-east-1:000000000000:function:agentcore-mt-pr-1-t4-tools"
config = {"mcp": {"lambda": {"lambdaArn": LAMBDA, "toolSchema": {"inlinePayload": spec["tools"]}}}}
creds = [{"credentialProviderType": "GATEWAY_IAM_ROLE"}]
refused("a target name with an underscore", "ValidationException",
        lambda: raw.create_gateway_target(gatewayIdentifier=gid, name="Claims_Tools", targetConfiguration=config, credentialProviderConfigurations=creds))
refused("a Lambda target without its tool schema", "ValidationException",
        lambda: raw.create_gateway_target(gatewayIdentifier=gid, name="x", targetConfiguration={"mcp": {"lambda": {"lambdaArn": LAMBDA, "toolSchema": {}}}}, credentialProviderConfigurations=creds))
refused("two credential providers", "ValidationException",
        lambda: raw.create_gateway_target(gatewayIdentifier=gid, name="x", targetConfiguration=config, credentialProviderConfigurations=creds * 2))
refused("a target of a gateway that does not exist", "ResourceNotFoundException",
        lambda: ac.create_gateway_target(gatewayIdentifier="nope-abcdefghij", name="x", targetConfiguration=config, credentialProviderConfigurations=creds))
target = ac.create_gateway_target(gatewayIdentifier=gid, name=spec["target"], targetConfiguration=config, credentialProviderConfigurations=creds)
tid = target["targetId"]
got = wait(lambda: ac.get_gateway_target(gatewayIdentifier=gid, targetId=tid), "status", ("READY",))
check("a target is CREATING, then READY", target["status"] == "CREATING" and got["status"] == "READY", got["status"])
refused("a target name taken in the gateway", "ConflictException",
        lambda: ac.create_gateway_target(gatewayIdentifier=gid, name=spec["target"], targetConfiguration=config, credentialProviderConfigurations=creds))

# The repository's policies, one CreatePolicy each: all ACTIVE, validated against the tools.
text = (ROOT / "agents/tools/policies/claims_tools.cedar").read_text().replace("{{gateway_arn}}", gw["gatewayArn"])
made = []
for name, statement in cedar_gateway.split(text):
    p = ac.create_policy(policyEngineId=eid, name=name, definition={"cedar": {"statement": statement}})
    made.append(p["policyId"])
    got = wait(lambda: ac.get_policy(policyEngineId=eid, policyId=p["policyId"]), "status", ("ACTIVE", "CREATE_FAILED"))
    check(f"policy {name} validates against the gateway's tools and is ACTIVE", got["status"] == "ACTIVE", got)
check("the file holds three policies", len(made) == 3, made)

# What validation refuses ends CREATE_FAILED, with the reason (the call itself succeeds).
bad = [
    ("misspelled_field", text.split('@id("broker_files_own_tenant")')[1].split("@id(")[0].replace("amount_usd > 0", "amount > 0")),
    ("unknown_tool", 'permit (principal, action == AgentCore::Action::"ClaimsTools___delete_all", resource == AgentCore::Gateway::"' + gw["gatewayArn"] + '");'),
    ("no_resource", "permit (principal, action, resource) when { principal has id };"),
]
for name, statement in bad:
    p = ac.create_policy(policyEngineId=eid, name=name, definition={"cedar": {"statement": statement}})
    got = wait(lambda: ac.get_policy(policyEngineId=eid, policyId=p["policyId"]), "status", ("ACTIVE", "CREATE_FAILED"))
    check(f"a policy with {name.replace('_', ' ')} ends CREATE_FAILED, saying why",
          got["status"] == "CREATE_FAILED" and got.get("statusReasons"), got.get("statusReasons"))
    made.append(p["policyId"])
refused("a policy shorter than 35 characters", "ValidationException",
        lambda: raw.create_policy(policyEngineId=eid, name="short", definition={"cedar": {"statement": "permit(principal,action,resource);"}}))
refused("a policy name taken", "ConflictException",
        lambda: ac.create_policy(policyEngineId=eid, name="broker_reads_own_tenant", definition={"cedar": {"statement": statement}}))
refused("an engine with policies cannot be deleted", "ConflictException", lambda: ac.delete_policy_engine(policyEngineId=eid))
# Policy names are unique in the account (the model), not only in their engine.
other = ac.create_policy_engine(name="agentcore_mt_pr_2_t4_tools")
refused("a policy name another engine holds in the account", "ConflictException",
        lambda: ac.create_policy(policyEngineId=other["policyEngineId"], name="broker_reads_own_tenant", definition={"cedar": {"statement": statement}}))
# Another account (a 12-digit access key is its account id, as ministack reads it) sees none of it.
stranger = boto3.session.Session(aws_access_key_id="111122223333", aws_secret_access_key="test", region_name="us-east-1").client(
    "bedrock-agentcore-control", endpoint_url=ministack)
refused("another account cannot read the gateway", "ResourceNotFoundException", lambda: stranger.get_gateway(gatewayIdentifier=gid))
refused("another account cannot delete the engine", "ResourceNotFoundException", lambda: stranger.delete_policy_engine(policyEngineId=eid))
check("another account lists no gateway", stranger.list_gateways()["items"] == [], stranger.list_gateways()["items"])
refused("an update the local cloud does not emulate says so", "InvalidAction",
        lambda: ac.update_policy_engine(policyEngineId=eid, description={"optionalValue": "x"}))

# Teardown in order: policies, target, gateway, engines; then nothing is left.
for pid in made:
    ac.delete_policy(policyEngineId=eid, policyId=pid)
wait(lambda: {"n": len(ac.list_policies(policyEngineId=eid)["policies"])}, "n", (0,))
refused("an engine a gateway uses cannot be deleted", "ConflictException", lambda: ac.delete_policy_engine(policyEngineId=eid))
ac.delete_gateway_target(gatewayIdentifier=gid, targetId=tid)
ac.delete_gateway(gatewayIdentifier=gid)
wait(lambda: {"n": len(ac.list_gateways()["items"])}, "n", (0,))
ac.delete_policy_engine(policyEngineId=eid)
ac.delete_policy_engine(policyEngineId=other["policyEngineId"])
deadline = time.time() + 30
while time.time() < deadline and (ac.list_gateways()["items"] or ac.list_policy_engines()["policyEngines"]):
    time.sleep(0.2)
check("destroyed in order, nothing is left", not ac.list_gateways()["items"] and not ac.list_policy_engines()["policyEngines"])
refused("a gateway gone is not found", "ResourceNotFoundException", lambda: ac.get_gateway(gatewayIdentifier=gid))
report()
