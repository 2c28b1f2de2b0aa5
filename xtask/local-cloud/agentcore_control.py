"""AgentCore Gateway and AgentCore Policy's control plane, which ministack 1.5.33 does not have
(it answers 400 "Unsupported AgentCore path"): gateways, their targets, policy engines and their
policies, kept in memory in the ministack process and served on its AgentCore routes.

What it enforces is what the pinned service model (botocore's bedrock-agentcore-control) and
the AgentCore developer guide say, as listed in xtask/docs/tutorial-4-facts.md:
- names, by each resource's pattern; a name taken is a ConflictException;
- a gateway's authorizer (CUSTOM_JWT needs a discovery URL ending in
  /.well-known/openid-configuration), its protocol (MCP), its policy engine (which must exist)
  and mode (LOG_ONLY or ENFORCE);
- a target's configuration (exactly one kind; a Lambda target has an inline or S3 tool schema
  and exactly one credential provider, GATEWAY_IAM_ROLE);
- states: CREATING then READY (gateways, targets) or ACTIVE (engines, policies), DELETING;
- a policy is validated when it is created, against the Cedar schema of every gateway the
  engine is attached to (generated from the gateways' tools, as AWS does), and AWS's own rules
  (a policy constrains its resource); a policy that fails ends CREATE_FAILED with the reasons
  (validation mode FAIL_ON_ANY_FINDINGS, the default) rather than the call failing;
- an engine with policies cannot be deleted (ConflictException).
What it does not do: the Cedar analyzer's findings (overly permissive policies), KMS keys,
interceptors, gateway rules and rate limits.
"""

import json
import random
import re
import string
import threading
import time
from urllib.parse import unquote

from ministack.core.responses import error_response_json, json_response

import cedar_gateway

ACCOUNT = "000000000000"
JSON = "application/json"
DELAY = 1.0

GATEWAY_NAME = re.compile(r"^([0-9a-zA-Z][-]?){1,48}$")
TARGET_NAME = re.compile(r"^([0-9a-zA-Z][-]?){1,100}$")
ENGINE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
POLICY_NAME = ENGINE_NAME
ROLE_ARN = re.compile(r"^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$")
ENGINE_ARN = re.compile(r"^arn:aws[-a-z]*:bedrock-agentcore:[a-z0-9-]+:[0-9]{12}:policy-engine/[A-Za-z][A-Za-z0-9_]*-[a-z0-9]{10}$")

_lock = threading.RLock()
gateways = {}  # id -> record
targets = {}  # (gateway id, target id) -> record
engines = {}  # id -> record
policies = {}  # (engine id, policy id) -> record
tags = {}  # arn -> {key: value}
_tokens = {}  # (kind, clientToken) -> answer


def configure(delay):
    global DELAY
    DELAY = delay


def _suffix(alphabet, n=10):
    return "".join(random.choice(alphabet) for _ in range(n))


def _now():
    # The model's timestamps are `timestampFormat: iso8601`.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _ok(data, status=200):
    return json_response(data, status, content_type=JSON)


def _error(code, message, status=400):
    return error_response_json(code, message, status, content_type=JSON)


def _invalid(message):
    return _error("ValidationException", message)


def _settle(record, steps):
    """`record["status"]` through `steps` [(state, seconds)], skipping if it changed meanwhile."""
    (first, wait), rest = steps[0], steps[1:]
    record["status"] = first
    if rest:
        def go():
            with _lock:
                if record.get("status") == first:
                    _settle(record, rest)
        if wait <= 0:
            go()
        else:
            t = threading.Timer(wait, go)
            t.daemon = True
            t.start()


def _later(seconds, step):
    if seconds <= 0:
        step()
        return
    t = threading.Timer(seconds, lambda: _locked(step))
    t.daemon = True
    t.start()


def _locked(step):
    with _lock:
        step()


def _region(headers):
    auth = (headers or {}).get("authorization") or (headers or {}).get("Authorization") or ""
    m = re.search(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/", auth)
    return m.group(1) if m else "us-east-1"


# --- gateways ---------------------------------------------------------------------------------

def _check_gateway(req):
    """Why the gateway request is invalid, or None."""
    if not GATEWAY_NAME.match(req.get("name") or ""):
        return "name must match ([0-9a-zA-Z][-]?){1,48}"
    if not ROLE_ARN.match(req.get("roleArn") or ""):
        return "roleArn must be an IAM role ARN"
    if req.get("protocolType", "MCP") != "MCP":
        return "protocolType must be MCP"
    kind = req.get("authorizerType")
    if kind not in ("CUSTOM_JWT", "AWS_IAM", "NONE", "AUTHENTICATE_ONLY"):
        return "authorizerType must be CUSTOM_JWT, AWS_IAM, NONE or AUTHENTICATE_ONLY"
    jwt = ((req.get("authorizerConfiguration") or {}).get("customJWTAuthorizer")) or None
    if kind == "CUSTOM_JWT":
        if not jwt:
            return "authorizerConfiguration.customJWTAuthorizer is required for CUSTOM_JWT"
        if not (jwt.get("discoveryUrl") or "").endswith("/.well-known/openid-configuration"):
            return "discoveryUrl must end with /.well-known/openid-configuration"
        if not (jwt.get("allowedClients") or jwt.get("allowedAudience") or jwt.get("allowedScopes") or jwt.get("customClaims")):
            return "customJWTAuthorizer needs allowedClients, allowedAudience, allowedScopes or customClaims"
    engine = req.get("policyEngineConfiguration")
    if engine is not None:
        if engine.get("mode") not in ("LOG_ONLY", "ENFORCE"):
            return "policyEngineConfiguration.mode must be LOG_ONLY or ENFORCE"
        if not ENGINE_ARN.match(engine.get("arn") or ""):
            return "policyEngineConfiguration.arn must be a policy engine ARN"
    return None


def _engine_by_arn(arn):
    return next((e for e in engines.values() if e["policyEngineArn"] == arn), None)


def _gateway_view(g):
    return {k: v for k, v in g.items() if not k.startswith("_")}


def create_gateway(req, region):
    why = _check_gateway(req)
    if why:
        return _invalid(why)
    engine = req.get("policyEngineConfiguration")
    if engine is not None and _engine_by_arn(engine["arn"]) is None:
        return _error("ResourceNotFoundException", f"policy engine {engine['arn']} not found", 404)
    if any(g["name"] == req["name"] for g in gateways.values()):
        return _error("ConflictException", f"a gateway named {req['name']} exists", 409)
    gid = f"{req['name'].lower()}-{_suffix(string.ascii_lowercase + string.digits)}"
    arn = f"arn:aws:bedrock-agentcore:{region}:{ACCOUNT}:gateway/{gid}"
    g = {
        "gatewayId": gid,
        "gatewayArn": arn,
        "gatewayUrl": f"https://{gid}.gateway.bedrock-agentcore.{region}.amazonaws.com/mcp",
        "name": req["name"],
        "description": req.get("description"),
        "roleArn": req["roleArn"],
        "protocolType": "MCP",
        "protocolConfiguration": req.get("protocolConfiguration"),
        "authorizerType": req["authorizerType"],
        "authorizerConfiguration": req.get("authorizerConfiguration"),
        "policyEngineConfiguration": engine,
        "exceptionLevel": req.get("exceptionLevel"),
        "createdAt": _now(),
        "updatedAt": _now(),
        "statusReasons": [],
    }
    g = {k: v for k, v in g.items() if v is not None}
    gateways[gid] = g
    tags[arn] = dict(req.get("tags") or {})
    _settle(g, [("CREATING", DELAY), ("READY", 0)])
    return _ok(_gateway_view(g), 202)


def update_gateway(gid, req):
    g = gateways.get(gid)
    if g is None:
        return _error("ResourceNotFoundException", f"gateway {gid} not found", 404)
    if g["status"] in ("CREATING", "UPDATING", "DELETING"):
        return _error("ConflictException", f"gateway {gid} is {g['status']}", 409)
    why = _check_gateway(req)
    if why:
        return _invalid(why)
    if req["name"] != g["name"]:
        return _invalid("a gateway's name cannot change")
    engine = req.get("policyEngineConfiguration")
    if engine is not None and _engine_by_arn(engine["arn"]) is None:
        return _error("ResourceNotFoundException", f"policy engine {engine['arn']} not found", 404)
    # A full replacement: what the request leaves out is gone.
    for field in ("description", "protocolConfiguration", "authorizerConfiguration", "policyEngineConfiguration", "exceptionLevel"):
        if req.get(field) is None:
            g.pop(field, None)
        else:
            g[field] = req[field]
    g["roleArn"] = req["roleArn"]
    g["authorizerType"] = req["authorizerType"]
    g["updatedAt"] = _now()
    _settle(g, [("UPDATING", DELAY), ("READY", 0)])
    return _ok(_gateway_view(g), 202)


def delete_gateway(gid):
    g = gateways.get(gid)
    if g is None:
        return _error("ResourceNotFoundException", f"gateway {gid} not found", 404)
    g["status"] = "DELETING"

    def gone():
        if gateways.get(gid) is g:
            del gateways[gid]
            tags.pop(g["gatewayArn"], None)
            for key in [k for k in targets if k[0] == gid]:
                del targets[key]

    _later(DELAY, gone)
    return _ok({"gatewayId": gid, "status": "DELETING", "statusReasons": []}, 202)


# --- targets ----------------------------------------------------------------------------------

def _check_target(req):
    if not TARGET_NAME.match(req.get("name") or ""):
        return "name must match ([0-9a-zA-Z][-]?){1,100}"
    config = req.get("targetConfiguration") or {}
    if len(config) != 1 or next(iter(config)) not in ("mcp", "http", "inference"):
        return "targetConfiguration must set exactly one of mcp, http, inference"
    mcp = config.get("mcp")
    if mcp is not None:
        if len(mcp) != 1:
            return "targetConfiguration.mcp must set exactly one target kind"
        kind, spec = next(iter(mcp.items()))
        if kind == "lambda":
            if not (spec.get("lambdaArn") and spec.get("toolSchema")):
                return "a lambda target needs lambdaArn and toolSchema"
            schema = spec["toolSchema"]
            if len(schema) != 1 or next(iter(schema)) not in ("inlinePayload", "s3"):
                return "toolSchema must set exactly one of inlinePayload, s3"
            for tool in schema.get("inlinePayload") or []:
                if not (tool.get("name") and tool.get("description") and tool.get("inputSchema")):
                    return "every tool needs name, description and inputSchema"
        elif kind == "mcpServer":
            if not (spec.get("endpoint") or "").startswith("https://"):
                return "an mcpServer target's endpoint must be https://"
    providers = req.get("credentialProviderConfigurations")
    if providers is not None and len(providers) != 1:
        return "credentialProviderConfigurations takes exactly one provider"
    for p in providers or []:
        if p.get("credentialProviderType") not in ("GATEWAY_IAM_ROLE", "OAUTH", "API_KEY", "CALLER_IAM_CREDENTIALS", "JWT_PASSTHROUGH"):
            return "credentialProviderType is not one of GATEWAY_IAM_ROLE, OAUTH, API_KEY, CALLER_IAM_CREDENTIALS, JWT_PASSTHROUGH"
    return None


def tools_of(gid):
    """The gateway's tools as MCP clients see them, `<target>___<tool>`, from inline schemas."""
    out = []
    for (g, _), t in targets.items():
        if g != gid:
            continue
        for spec in (t["targetConfiguration"].get("mcp") or {}).values():
            for tool in ((spec or {}).get("toolSchema") or {}).get("inlinePayload") or []:
                out.append(dict(tool, name=f"{t['name']}___{tool['name']}"))
    return out


def create_target(gid, req):
    g = gateways.get(gid)
    if g is None:
        return _error("ResourceNotFoundException", f"gateway {gid} not found", 404)
    why = _check_target(req)
    if why:
        return _invalid(why)
    if any(k[0] == gid and t["name"] == req["name"] for k, t in targets.items()):
        return _error("ConflictException", f"gateway {gid} has a target named {req['name']}", 409)
    tid = _suffix(string.ascii_uppercase + string.digits)
    t = {
        "gatewayArn": g["gatewayArn"],
        "targetId": tid,
        "name": req["name"],
        "description": req.get("description"),
        "targetConfiguration": req["targetConfiguration"],
        "credentialProviderConfigurations": req.get("credentialProviderConfigurations") or [],
        "createdAt": _now(),
        "updatedAt": _now(),
        "statusReasons": [],
    }
    t = {k: v for k, v in t.items() if v is not None}
    targets[(gid, tid)] = t
    _settle(t, [("CREATING", DELAY), ("READY", 0)])
    return _ok(t, 202)


def delete_target(gid, tid):
    t = targets.get((gid, tid))
    if t is None:
        return _error("ResourceNotFoundException", f"target {tid} of gateway {gid} not found", 404)
    if t["status"].endswith("_PENDING_AUTH"):
        return _error("ConflictException", f"target {tid} is {t['status']}", 409)
    t["status"] = "DELETING"

    def gone():
        if targets.get((gid, tid)) is t:
            del targets[(gid, tid)]

    _later(DELAY, gone)
    return _ok({"gatewayArn": t["gatewayArn"], "targetId": tid, "status": "DELETING", "statusReasons": []}, 202)


# --- policy engines and policies --------------------------------------------------------------

def create_engine(req, region):
    if not ENGINE_NAME.match(req.get("name") or ""):
        return _invalid("name must match [A-Za-z][A-Za-z0-9_]{0,47}")
    if any(e["name"] == req["name"] for e in engines.values()):
        return _error("ConflictException", f"a policy engine named {req['name']} exists", 409)
    eid = f"{req['name']}-{_suffix(string.ascii_lowercase + string.digits)}"
    e = {
        "policyEngineId": eid,
        "policyEngineArn": f"arn:aws:bedrock-agentcore:{region}:{ACCOUNT}:policy-engine/{eid}",
        "name": req["name"],
        "description": req.get("description"),
        "createdAt": _now(),
        "updatedAt": _now(),
        "statusReasons": [],
    }
    e = {k: v for k, v in e.items() if v is not None}
    engines[eid] = e
    tags[e["policyEngineArn"]] = dict(req.get("tags") or {})
    _settle(e, [("CREATING", DELAY), ("ACTIVE", 0)])
    return _ok(e, 202)


def delete_engine(eid):
    e = engines.get(eid)
    if e is None:
        return _error("ResourceNotFoundException", f"policy engine {eid} not found", 404)
    if any(k[0] == eid for k in policies):
        return _error("ConflictException", f"policy engine {eid} still has policies: delete them first", 409)
    e["status"] = "DELETING"

    def gone():
        if engines.get(eid) is e:
            del engines[eid]
            tags.pop(e["policyEngineArn"], None)

    _later(DELAY, gone)
    return _ok(e, 202)


def attached_gateways(engine):
    return [g for g in gateways.values() if (g.get("policyEngineConfiguration") or {}).get("arn") == engine["policyEngineArn"]]


def findings(engine, statement):
    """Why `statement` fails validation for `engine`: AWS's own rules, then the Cedar schema of
    every gateway the engine is attached to (generated from its targets' tools)."""
    reasons = []
    for g in attached_gateways(engine):
        tools = tools_of(g["gatewayId"])
        if not tools:
            continue
        schema = cedar_gateway.schema_of_tools(tools)
        reasons += [f"gateway {g['gatewayId']}: {e}" for e in cedar_gateway.validate(statement, schema)]
    if not reasons:
        reasons = cedar_gateway.rules(statement, named=False)
    return reasons


def create_policy(eid, req):
    e = engines.get(eid)
    if e is None:
        return _error("ResourceNotFoundException", f"policy engine {eid} not found", 404)
    if e["status"] != "ACTIVE":
        return _error("ConflictException", f"policy engine {eid} is {e['status']}", 409)
    if not POLICY_NAME.match(req.get("name") or ""):
        return _invalid("name must match [A-Za-z][A-Za-z0-9_]{0,47}")
    statement = (((req.get("definition") or {}).get("cedar")) or {}).get("statement")
    if statement is None:
        return _invalid("definition.cedar.statement is required")
    if not 35 <= len(statement) <= 10000:
        return _invalid("definition.cedar.statement must be 35 to 10000 characters")
    mode = req.get("validationMode", "FAIL_ON_ANY_FINDINGS")
    if mode not in ("FAIL_ON_ANY_FINDINGS", "IGNORE_ALL_FINDINGS"):
        return _invalid("validationMode must be FAIL_ON_ANY_FINDINGS or IGNORE_ALL_FINDINGS")
    if any(k[0] == eid and p["name"] == req["name"] for k, p in policies.items()):
        return _error("ConflictException", f"policy engine {eid} has a policy named {req['name']}", 409)
    pid = f"{req['name']}-{_suffix(string.ascii_lowercase + string.digits)}"
    p = {
        "policyId": pid,
        "policyArn": f"{e['policyEngineArn']}/policy/{pid}",
        "policyEngineId": eid,
        "name": req["name"],
        "description": req.get("description"),
        "definition": req["definition"],
        "validationMode": mode,
        "enforcementMode": req.get("enforcementMode", "ACTIVE"),
        "createdAt": _now(),
        "updatedAt": _now(),
        "statusReasons": [],
    }
    p = {k: v for k, v in p.items() if v is not None}
    policies[(eid, pid)] = p
    # Validated after the call, as AWS does: the answer is CREATING, the end CREATE_FAILED.
    reasons = findings(e, statement)
    if reasons and mode == "FAIL_ON_ANY_FINDINGS":
        p["statusReasons"] = reasons[:5]
        _settle(p, [("CREATING", DELAY), ("CREATE_FAILED", 0)])
    else:
        _settle(p, [("CREATING", DELAY), ("ACTIVE", 0)])
    return _ok(p, 202)


def delete_policy(eid, pid):
    p = policies.get((eid, pid))
    if p is None:
        return _error("ResourceNotFoundException", f"policy {pid} not found", 404)
    p["status"] = "DELETING"

    def gone():
        if policies.get((eid, pid)) is p:
            del policies[(eid, pid)]

    _later(DELAY, gone)
    return _ok(p, 202)


def enforced(gid):
    """What the gateway's data plane enforces: (mode, the ACTIVE policies' text) or None."""
    g = gateways.get(gid)
    config = (g or {}).get("policyEngineConfiguration")
    engine = _engine_by_arn(config["arn"]) if config else None
    if engine is None:
        return None
    active = [p["definition"]["cedar"]["statement"] for (e, _), p in policies.items()
              if e == engine["policyEngineId"] and p["status"] == "ACTIVE" and p.get("enforcementMode") == "ACTIVE"]
    return config["mode"], "\n".join(active)


# --- routes -----------------------------------------------------------------------------------

def _page(items, key):
    return _ok({key: items})


def handle(method, path, headers, body, query):
    """The answer to an AgentCore control-plane request under /gateways or /policy-engines, or
    None for a path that is not one of these."""
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    if not parts or parts[0] not in ("gateways", "policy-engines"):
        return None
    try:
        req = json.loads(body or b"{}") if body else {}
    except json.JSONDecodeError:
        return _invalid("the request body is not JSON")
    region = _region(headers)
    token = req.get("clientToken") if method in ("POST", "PUT") else None
    key = (method, tuple(parts), token)
    with _lock:
        if token and key in _tokens:
            return _tokens[key]
        out = _route(method, parts, req, region)
        if token and out[0] < 300 and method == "POST":
            _tokens[key] = out
        return out


def _route(method, parts, req, region):
    n = len(parts)
    if parts[0] == "gateways":
        if n == 1 and method == "POST":
            return create_gateway(req, region)
        if n == 1 and method == "GET":
            return _page([{k: g[k] for k in ("gatewayId", "name", "status", "authorizerType", "protocolType", "createdAt", "updatedAt") if k in g} for g in gateways.values()], "items")
        gid = parts[1]
        if n == 2:
            g = gateways.get(gid)
            if method == "GET":
                return _ok(_gateway_view(g)) if g else _error("ResourceNotFoundException", f"gateway {gid} not found", 404)
            if method == "PUT":
                return update_gateway(gid, req)
            if method == "DELETE":
                return delete_gateway(gid)
        if n >= 3 and parts[2] == "targets":
            if n == 3 and method == "POST":
                return create_target(gid, req)
            if n == 3 and method == "GET":
                if gid not in gateways:
                    return _error("ResourceNotFoundException", f"gateway {gid} not found", 404)
                return _page([{k: t[k] for k in ("targetId", "name", "status", "createdAt", "updatedAt")} for (g, _), t in targets.items() if g == gid], "items")
            if n == 4:
                t = targets.get((gid, parts[3]))
                if method == "GET":
                    return _ok(t) if t else _error("ResourceNotFoundException", f"target {parts[3]} not found", 404)
                if method == "DELETE":
                    return delete_target(gid, parts[3])
    if parts[0] == "policy-engines":
        if n == 1 and method == "POST":
            return create_engine(req, region)
        if n == 1 and method == "GET":
            return _page(list(engines.values()), "policyEngines")
        eid = parts[1]
        if n == 2:
            e = engines.get(eid)
            if method == "GET":
                return _ok(e) if e else _error("ResourceNotFoundException", f"policy engine {eid} not found", 404)
            if method == "DELETE":
                return delete_engine(eid)
        if n >= 3 and parts[2] == "policies":
            if n == 3 and method == "POST":
                return create_policy(eid, req)
            if n == 3 and method == "GET":
                if eid not in engines:
                    return _error("ResourceNotFoundException", f"policy engine {eid} not found", 404)
                return _page([p for (e, _), p in policies.items() if e == eid], "policies")
            if n == 4:
                p = policies.get((eid, parts[3]))
                if method == "GET":
                    return _ok(p) if p else _error("ResourceNotFoundException", f"policy {parts[3]} not found", 404)
                if method == "DELETE":
                    return delete_policy(eid, parts[3])
    return _error("ResourceNotFoundException", f"no such AgentCore resource: {method} /{'/'.join(parts)}", 404)
