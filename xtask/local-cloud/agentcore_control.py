"""AgentCore Gateway and AgentCore Policy's control plane, which ministack 1.5.33 does not have
(it answers 400 "Unsupported AgentCore path"): gateways, their targets, policy engines and their
policies, kept in memory in the ministack process and served on its AgentCore routes.

What it enforces is what the pinned service model (botocore's bedrock-agentcore-control:
patterns, enums, required members, modeled errors) and the AgentCore developer guide say, as
listed in xtask/docs/tutorial-4-facts.md, and nothing it does not say:
- names and ARNs, by the model's patterns; a gateway name taken in the account and region, a
  target name taken in its gateway, a policy name taken in the account (the model: "Must be
  unique within the account") are ConflictExceptions;
- a gateway's authorizer (CUSTOM_JWT needs its configuration, whose discovery URL matches
  `.+/.well-known/openid-configuration`), its protocol (MCP), its policy engine (which must
  exist in the caller's account and region; else ValidationException, CreateGateway's modeled
  error) and mode (LOG_ONLY or ENFORCE); a gateway's name cannot change;
- a gateway's interceptors (1 or 2, Lambda function ARNs, at most one per interception point,
  `passRequestHeaders` named); runtime_host.py runs a REQUEST interceptor as AWS does;
- a target's configuration (exactly one kind; a Lambda target has an inline or S3 tool schema;
  at most one credential provider, of a modeled type);
- states: CREATING then READY (gateways, targets) or ACTIVE (engines, policies), DELETING;
- a policy is validated when it is created, against the Cedar schema of every gateway the
  engine is attached to (generated from the gateways' tools, as AWS does; with no tool yet,
  the bare schema), and AWS's own rule that a policy constrains its resource; schema checks run
  in either validation mode, so a policy that fails ends CREATE_FAILED with the reasons rather
  than the call failing;
- an engine with policies, or attached to a gateway, cannot be deleted (ConflictException).
Every resource belongs to the caller's account and region: another's are not found.
Not emulated: the Cedar analyzer's findings (overly permissive policies), `policy` and
`policyGeneration` definitions, KMS keys, interceptors' payload filters (kept, not applied),
rules and rate limits, updates of targets, engines and policies (answered 400 InvalidAction, as ministack answers what it lacks).
"""

import json
import random
import re
import string
import threading
import time
from urllib.parse import unquote

from ministack.core.responses import error_response_json, get_account_id, get_region, json_response

import cedar_gateway
import local_common

JSON = "application/json"
DELAY = 1.0

GATEWAY_NAME = re.compile(r"^([0-9a-zA-Z][-]?){1,48}$")
TARGET_NAME = re.compile(r"^([0-9a-zA-Z][-]?){1,100}$")
ENGINE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")  # 1-48, [A-Za-z][A-Za-z0-9_]*
POLICY_NAME = ENGINE_NAME
ROLE_ARN = re.compile(r"^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$")
ENGINE_ARN = re.compile(r"^arn:aws(-[^:]+)?:bedrock-agentcore:[a-z0-9-]+:[0-9]{12}:policy-engine/[a-zA-Z][a-zA-Z0-9-_]{0,99}-[a-zA-Z0-9_]{10}$")
DISCOVERY_URL = re.compile(r"^.+/\.well-known/openid-configuration$")
LAMBDA_ARN = re.compile(r"^arn:(aws[a-zA-Z-]*)?:lambda:([a-z]{2}(-gov)?-[a-z]+-\d{1}):(\d{12}):function:([a-zA-Z0-9-_.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$")

_lock = threading.RLock()
# Keys hold the (account, region) a resource was made in: lookups see only the caller's, and ids
# never collide across accounts.
gateways = {}  # (scope, id) -> record
targets = {}  # (scope, gateway id, target id) -> record
engines = {}  # (scope, id) -> record
policies = {}  # (scope, engine id, policy id) -> record
tags = {}  # arn -> {key: value}
_tokens = {}  # (scope, method, path, clientToken) -> answer


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
    return error_response_json("ValidationException", message, 400, extra={"reason": "FieldValidationFailed"}, content_type=JSON)


def _settle(record, steps):
    """`record["status"]` through `steps` [(state, seconds)], under the lock."""
    local_common.settle(record, "status", steps, _lock)


def _goes(store, key, then=None):
    """The record at `key` DELETING, then gone from `store` (and `then` done) after DELAY,
    unless something replaced it meanwhile."""
    record = store[key]
    record["status"] = "DELETING"

    def gone():
        if store.get(key) is record:
            del store[key]
            if then is not None:
                then()

    local_common.later(DELAY, gone, _lock)


def _scope():
    """The caller's (account, region), as ministack reads them from the request."""
    return (get_account_id(), get_region())


def _view(record):
    return {k: v for k, v in record.items() if not k.startswith("_")}


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
        if not DISCOVERY_URL.match(jwt.get("discoveryUrl") or ""):
            return "discoveryUrl must match .+/.well-known/openid-configuration"
    why = _check_interceptors(req.get("interceptorConfigurations"))
    if why:
        return why
    engine = req.get("policyEngineConfiguration")
    if engine is not None:
        if engine.get("mode") not in ("LOG_ONLY", "ENFORCE"):
            return "policyEngineConfiguration.mode must be LOG_ONLY or ENFORCE"
        if not ENGINE_ARN.match(engine.get("arn") or ""):
            return "policyEngineConfiguration.arn must be a policy engine ARN"
    return None


def _check_interceptors(items):
    """Why `interceptorConfigurations` is invalid, or None: the model (1 or 2 items; each a
    Lambda function ARN, 1 or 2 interception points of REQUEST and RESPONSE, an input
    configuration that names passRequestHeaders) and the devguide ("gateway-interceptors": at
    most one REQUEST and at most one RESPONSE interceptor)."""
    if items is None:
        return None
    if not isinstance(items, list) or not 1 <= len(items) <= 2:
        return "interceptorConfigurations must have 1 or 2 items"
    seen = []
    for i, item in enumerate(items):
        where = f"interceptorConfigurations.{i + 1}"
        arn = (((item or {}).get("interceptor") or {}).get("lambda") or {}).get("arn") or ""
        if not LAMBDA_ARN.match(arn) or len(arn) > 170:
            return f"{where}.interceptor.lambda.arn must be a Lambda function ARN"
        points = item.get("interceptionPoints")
        if not isinstance(points, list) or not 1 <= len(points) <= 2 or any(p not in ("REQUEST", "RESPONSE") for p in points):
            return f"{where}.interceptionPoints must be 1 or 2 of REQUEST, RESPONSE"
        seen += points
        inputs = item.get("inputConfiguration")
        if inputs is not None and not isinstance(inputs.get("passRequestHeaders"), bool):
            return f"{where}.inputConfiguration.passRequestHeaders is required"
    if len(seen) != len(set(seen)):
        return "a gateway has at most one REQUEST and at most one RESPONSE interceptor"
    return None


def _engine_by_arn(scope, arn):
    return next((e for (s, _), e in engines.items() if s == scope and e["policyEngineArn"] == arn), None)


def _gateway_view(g):
    return _view(g)


def create_gateway(req, scope):
    account, region = scope
    why = _check_gateway(req)
    if why:
        return _invalid(why)
    engine = req.get("policyEngineConfiguration")
    if engine is not None and _engine_by_arn(scope, engine["arn"]) is None:
        return _invalid(f"policyEngineConfiguration.arn: no policy engine {engine['arn']} in this account and region")
    if any(s == scope and g["name"] == req["name"] for (s, _), g in gateways.items()):
        return _error("ConflictException", f"a gateway named {req['name']} exists", 409)
    gid = f"{req['name'].lower()}-{_suffix(string.ascii_lowercase + string.digits)}"
    arn = f"arn:aws:bedrock-agentcore:{region}:{account}:gateway/{gid}"
    g = {
        "gatewayId": gid,
        "gatewayArn": arn,
        "gatewayUrl": f"https://{gid}.gateway.bedrock-agentcore.{region}.amazonaws.com/mcp",
        "name": req["name"],
        "description": req.get("description"),
        "roleArn": req["roleArn"],
        "protocolType": req.get("protocolType"),
        "protocolConfiguration": req.get("protocolConfiguration"),
        "authorizerType": req["authorizerType"],
        "authorizerConfiguration": req.get("authorizerConfiguration"),
        "policyEngineConfiguration": engine,
        "exceptionLevel": req.get("exceptionLevel"),
        "interceptorConfigurations": req.get("interceptorConfigurations"),
        "createdAt": _now(),
        "updatedAt": _now(),
        "statusReasons": [],
    }
    g = {k: v for k, v in g.items() if v is not None}
    gateways[(scope, gid)] = g
    tags[arn] = dict(req.get("tags") or {})
    _settle(g, [("CREATING", DELAY), ("READY", 0)])
    return _ok(_gateway_view(g), 202)


def update_gateway(scope, gid, req):
    g = gateways.get((scope, gid))
    if g is None:
        return _error("ResourceNotFoundException", f"gateway {gid} not found", 404)
    why = _check_gateway(req)
    if why:
        return _invalid(why)
    if req["name"] != g["name"]:
        return _invalid("a gateway's name cannot change")
    engine = req.get("policyEngineConfiguration")
    if engine is not None and _engine_by_arn(scope, engine["arn"]) is None:
        return _error("ResourceNotFoundException", f"policy engine {engine['arn']} not found", 404)
    # A full replacement: what the request leaves out is gone.
    for field in ("description", "protocolType", "protocolConfiguration", "authorizerConfiguration", "policyEngineConfiguration", "exceptionLevel", "interceptorConfigurations"):
        if req.get(field) is None:
            g.pop(field, None)
        else:
            g[field] = req[field]
    g["roleArn"] = req["roleArn"]
    g["authorizerType"] = req["authorizerType"]
    g["updatedAt"] = _now()
    _settle(g, [("UPDATING", DELAY), ("READY", 0)])
    return _ok(_gateway_view(g), 202)


def delete_gateway(scope, gid):
    g = gateways.get((scope, gid))
    if g is None:
        return _error("ResourceNotFoundException", f"gateway {gid} not found", 404)

    def with_its_targets():
        tags.pop(g["gatewayArn"], None)
        for key in [k for k in targets if k[:2] == (scope, gid)]:
            del targets[key]

    _goes(gateways, (scope, gid), with_its_targets)
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
        return "credentialProviderConfigurations takes one provider"
    for p in providers or []:
        if p.get("credentialProviderType") not in ("GATEWAY_IAM_ROLE", "OAUTH", "API_KEY", "CALLER_IAM_CREDENTIALS", "JWT_PASSTHROUGH"):
            return "credentialProviderType is not one of GATEWAY_IAM_ROLE, OAUTH, API_KEY, CALLER_IAM_CREDENTIALS, JWT_PASSTHROUGH"
    return None


def tools_of(scope, gid):
    """The gateway's tools as MCP clients see them, `<target>___<tool>`, from inline schemas."""
    out = []
    for (s, g, _), t in list(targets.items()):
        if (s, g) != (scope, gid):
            continue
        for spec in (t["targetConfiguration"].get("mcp") or {}).values():
            for tool in ((spec or {}).get("toolSchema") or {}).get("inlinePayload") or []:
                out.append(dict(tool, name=f"{t['name']}___{tool['name']}"))
    return out


def create_target(scope, gid, req):
    g = gateways.get((scope, gid))
    if g is None:
        return _error("ResourceNotFoundException", f"gateway {gid} not found", 404)
    why = _check_target(req)
    if why:
        return _invalid(why)
    if any(k[:2] == (scope, gid) and t["name"] == req["name"] for k, t in targets.items()):
        return _error("ConflictException", f"gateway {gid} has a target named {req['name']}", 409)
    tid = _suffix(string.ascii_uppercase + string.digits)
    t = {
        "gatewayArn": g["gatewayArn"],
        "targetId": tid,
        "name": req["name"],
        "description": req.get("description"),
        "targetConfiguration": req["targetConfiguration"],
        "credentialProviderConfigurations": req.get("credentialProviderConfigurations"),
        "createdAt": _now(),
        "updatedAt": _now(),
        "statusReasons": [],
    }
    t = {k: v for k, v in t.items() if v is not None}
    targets[(scope, gid, tid)] = t
    _settle(t, [("CREATING", DELAY), ("READY", 0)])
    return _ok(t, 202)


def delete_target(scope, gid, tid):
    t = targets.get((scope, gid, tid))
    if t is None:
        return _error("ResourceNotFoundException", f"target {tid} of gateway {gid} not found", 404)
    if t["status"].endswith("_PENDING_AUTH"):
        return _error("ConflictException", f"target {tid} is {t['status']}", 409)
    _goes(targets, (scope, gid, tid))
    return _ok({"gatewayArn": t["gatewayArn"], "targetId": tid, "status": "DELETING", "statusReasons": []}, 202)


# --- policy engines and policies --------------------------------------------------------------

def create_engine(req, scope):
    account, region = scope
    if not ENGINE_NAME.match(req.get("name") or ""):
        return _invalid("name must match [A-Za-z][A-Za-z0-9_]{0,47}")
    eid = f"{req['name']}-{_suffix(string.ascii_lowercase + string.digits)}"
    e = {
        "policyEngineId": eid,
        "policyEngineArn": f"arn:aws:bedrock-agentcore:{region}:{account}:policy-engine/{eid}",
        "name": req["name"],
        "description": req.get("description"),
        "createdAt": _now(),
        "updatedAt": _now(),
        "statusReasons": [],
    }
    e = {k: v for k, v in e.items() if v is not None}
    engines[(scope, eid)] = e
    tags[e["policyEngineArn"]] = dict(req.get("tags") or {})
    _settle(e, [("CREATING", DELAY), ("ACTIVE", 0)])
    return _ok(e, 202)


def delete_engine(scope, eid):
    e = engines.get((scope, eid))
    if e is None:
        return _error("ResourceNotFoundException", f"policy engine {eid} not found", 404)
    if any(k[:2] == (scope, eid) for k in policies):
        return _error("ConflictException", f"policy engine {eid} still has policies: delete them first", 409)
    if attached_gateways(scope, e):
        return _error("ConflictException", f"policy engine {eid} is attached to a gateway: detach it first", 409)
    _goes(engines, (scope, eid), lambda: tags.pop(e["policyEngineArn"], None))
    return _ok(e, 202)


def attached_gateways(scope, engine):
    with _lock:
        return [g for (s, _), g in gateways.items()
                if s == scope and (g.get("policyEngineConfiguration") or {}).get("arn") == engine["policyEngineArn"]]


def findings(scope, engine, statement):
    """Why `statement` fails validation for `engine`: the Cedar schema of every gateway the
    engine is attached to (generated from its targets' tools; with none yet, the bare schema),
    and AWS's rule that a policy constrains its resource."""
    reasons = []
    for g in attached_gateways(scope, engine):
        try:
            schema = cedar_gateway.schema_of_tools(tools_of(scope, g["gatewayId"]))
        except ValueError as e:
            reasons.append(f"gateway {g['gatewayId']}: {e}")
            continue
        reasons += [f"gateway {g['gatewayId']}: {e}" for e in cedar_gateway.validate(statement, schema, named=False)]
    return reasons or cedar_gateway.rules(statement, named=False)


def create_policy(scope, eid, req):
    e = engines.get((scope, eid))
    if e is None:
        return _error("ResourceNotFoundException", f"policy engine {eid} not found", 404)
    if not POLICY_NAME.match(req.get("name") or ""):
        return _invalid("name must match [A-Za-z][A-Za-z0-9_]{0,47}")
    definition = req.get("definition") or {}
    if len(definition) != 1:
        return _invalid("definition must set exactly one of cedar, policy, policyGeneration")
    statement = (definition.get("cedar") or {}).get("statement")
    if statement is None:
        # An emulator's limit, not AWS's: say so.
        return _error("InvalidAction", "the local cloud emulates cedar definitions only", 400)
    if not 35 <= len(statement) <= 10000:
        return _invalid("definition.cedar.statement must be 35 to 10000 characters")
    if req.get("enforcementMode", "ACTIVE") not in ("ACTIVE", "LOG_ONLY"):
        return _invalid("enforcementMode must be ACTIVE or LOG_ONLY")
    mode = req.get("validationMode", "FAIL_ON_ANY_FINDINGS")
    if mode not in ("FAIL_ON_ANY_FINDINGS", "IGNORE_ALL_FINDINGS"):
        return _invalid("validationMode must be FAIL_ON_ANY_FINDINGS or IGNORE_ALL_FINDINGS")
    # "Must be unique within the account" (CreatePolicyRequest.name in the model).
    if any(k[0] == scope and p["name"] == req["name"] for k, p in policies.items()):
        return _error("ConflictException", f"a policy named {req['name']} exists in this account", 409)
    pid = f"{req['name']}-{_suffix(string.ascii_lowercase + string.digits)}"
    p = {
        "policyId": pid,
        "policyArn": f"{e['policyEngineArn']}/policy/{pid}",
        "policyEngineId": eid,
        "name": req["name"],
        "description": req.get("description"),
        "definition": req["definition"],
        "_validationMode": mode,
        "enforcementMode": req.get("enforcementMode", "ACTIVE"),
        "createdAt": _now(),
        "updatedAt": _now(),
        "statusReasons": [],
    }
    p = {k: v for k, v in p.items() if v is not None}
    policies[(scope, eid, pid)] = p
    # Validated after the call, as AWS does: the answer is CREATING, the end CREATE_FAILED.
    # Schema checks run in either mode (the analyzer's findings, which IGNORE_ALL_FINDINGS
    # skips, are not emulated).
    reasons = findings(scope, e, statement)
    if reasons:
        p["statusReasons"] = reasons[:5]
        _settle(p, [("CREATING", DELAY), ("CREATE_FAILED", 0)])
    else:
        _settle(p, [("CREATING", DELAY), ("ACTIVE", 0)])
    return _ok(_view(p), 202)


def delete_policy(scope, eid, pid):
    p = policies.get((scope, eid, pid))
    if p is None:
        return _error("ResourceNotFoundException", f"policy {pid} not found", 404)
    _goes(policies, (scope, eid, pid))
    return _ok(_view(p), 202)


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
    scope = _scope()
    token = req.get("clientToken") if method in ("POST", "PUT") else None
    key = (scope, method, tuple(parts), token)
    with _lock:
        if token and key in _tokens:
            return _tokens[key]
        out = _route(method, parts, req, scope)
        if token and out[0] < 300 and method == "POST":
            _tokens[key] = out
        return out


def _route(method, parts, req, scope):
    n = len(parts)
    if parts[0] == "gateways":
        if n == 1 and method == "POST":
            return create_gateway(req, scope)
        if n == 1 and method == "GET":
            return _page([{k: g[k] for k in ("gatewayId", "name", "status", "authorizerType", "protocolType", "createdAt", "updatedAt") if k in g}
                          for (s, _), g in gateways.items() if s == scope], "items")
        gid = parts[1]
        if n == 2:
            g = gateways.get((scope, gid))
            if method == "GET":
                return _ok(_gateway_view(g)) if g else _error("ResourceNotFoundException", f"gateway {gid} not found", 404)
            if method == "PUT":
                return update_gateway(scope, gid, req)
            if method == "DELETE":
                return delete_gateway(scope, gid)
        if n >= 3 and parts[2] == "targets":
            if n == 3 and method == "POST":
                return create_target(scope, gid, req)
            if n == 3 and method == "GET":
                if (scope, gid) not in gateways:
                    return _error("ResourceNotFoundException", f"gateway {gid} not found", 404)
                return _page([{k: t[k] for k in ("targetId", "name", "status", "createdAt", "updatedAt")}
                              for k, t in targets.items() if k[:2] == (scope, gid)], "items")
            if n == 4:
                t = targets.get((scope, gid, parts[3]))
                if method == "GET":
                    return _ok(t) if t else _error("ResourceNotFoundException", f"target {parts[3]} not found", 404)
                if method == "DELETE":
                    return delete_target(scope, gid, parts[3])
    if parts[0] == "policy-engines":
        if n == 1 and method == "POST":
            return create_engine(req, scope)
        if n == 1 and method == "GET":
            return _page([e for (s, _), e in engines.items() if s == scope], "policyEngines")
        eid = parts[1]
        if n == 2:
            e = engines.get((scope, eid))
            if method == "GET":
                return _ok(e) if e else _error("ResourceNotFoundException", f"policy engine {eid} not found", 404)
            if method == "DELETE":
                return delete_engine(scope, eid)
        if n >= 3 and parts[2] == "policies":
            if n == 3 and method == "POST":
                return create_policy(scope, eid, req)
            if n == 3 and method == "GET":
                if (scope, eid) not in engines:
                    return _error("ResourceNotFoundException", f"policy engine {eid} not found", 404)
                return _page([_view(p) for k, p in policies.items() if k[:2] == (scope, eid)], "policies")
            if n == 4:
                p = policies.get((scope, eid, parts[3]))
                if method == "GET":
                    return _ok(_view(p)) if p else _error("ResourceNotFoundException", f"policy {parts[3]} not found", 404)
                if method == "DELETE":
                    return delete_policy(scope, eid, parts[3])
    # What is not emulated is said as ministack says it, not as "not found".
    return _error("InvalidAction", f"Unsupported AgentCore request: {method} /{'/'.join(parts)}", 400)
