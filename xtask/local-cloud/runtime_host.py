"""The local AgentCore Runtime host: the invocation URL of AgentCore Runtime served on 127.0.0.1,
for the runtimes deployed in the emulator (ministack keeps their configuration but runs no code).

    POST /runtimes/{url-encoded runtime ARN}/invocations?qualifier=DEFAULT

For each call it reads the runtime's configuration from the emulator (the endpoint's live
version) and then does what AgentCore Runtime does:

- validates the bearer token exactly as the runtime's `customJWTAuthorizer` says: signature
  against the JWKS named by the discovery document, issuer equal to the discovery document's,
  expiry, `token_use` access, `client_id` in `allowedClients` (and `aud` in `allowedAudience`
  when that is set). No token or an invalid one: 401; a valid token the runtime does not allow:
  403. The discovery URL keeps its AWS form in the stack; it is mapped to the emulator here.
- runs the agent from the zip that deploy uploaded (downloaded from the emulator's S3, unpacked,
  started as `python -S <entry point>` so that only the zip's own files are importable, as with
  direct code deployment), speaking the runtime's HTTP contract (`/ping`, `/invocations`, port
  from `PORT`); one process per runtime version, started on first use;
- forwards only the allow-listed request headers (`requestHeaderAllowlist`) and the session id:
  `Authorization` exactly as validated; a request with no or several `Authorization` headers
  (any letter case), or with an allow-listed header sent twice, is refused; so is a payload over
  InvokeAgentRuntime's 100 MB limit (413);
- caches each pool's JWKS (an unknown `kid` refetches at most once per 30 s).

`GET /local/agents` lists the running agents' ports, so that `verify` can call an agent directly
and show that the agent verifies tokens itself (it does: `agents/common/agent_common/tokens.py`).

Environment: MINISTACK_URL, DATA_API_URL, RUNTIME_HOST_PORT, RUNTIMES_DIR.
"""
import base64
import concurrent.futures
import ctypes
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

# The JWKS cache the agents use (agents/common/agent_common/tokens.py, written beside this script
# by `cargo xtask local up`): keys cached, an unknown `kid` refetched at most once per interval.
import agent_tokens as tokens  # noqa: E402
import cedar_gateway  # noqa: E402
import local_common as common  # noqa: E402

MINISTACK = os.environ["MINISTACK_URL"]
DATA_API = os.environ["DATA_API_URL"]
PORT = int(os.environ["RUNTIME_HOST_PORT"])
RUNTIMES_DIR = os.environ["RUNTIMES_DIR"]
REGION = "us-east-1"
SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
# How long an agent may take to answer /ping after it was started (AgentCore: initialization
# time exceeded).
START_SECONDS = 60
# InvokeAgentRuntime's payload limit: "up to 100 MB" (AgentCore developer guide, "Invoke an
# AgentCore Runtime agent", and the Runtime quotas: max payload size 100 MB).
MAX_PAYLOAD = 100 * 1000 * 1000
# Invocations in flight at once; more are answered as AWS answers excess load: 429
# ThrottlingException, which a client retries (never a reset connection).
MAX_IN_FLIGHT = int(os.environ.get("RUNTIME_HOST_MAX_IN_FLIGHT") or 32)
_in_flight = threading.BoundedSemaphore(MAX_IN_FLIGHT)



def _control():
    return common.client("bedrock-agentcore-control", MINISTACK)


def _s3():
    return common.client("s3", MINISTACK)


def _lambda():
    # One attempt, and as long as a function may run: a tool that files a claim must not run
    # twice because an answer was slow (botocore would retry after its 60 s read timeout).
    import boto3
    import botocore.config
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=common.REGION)
    config = botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=900)
    return session.client("lambda", endpoint_url=MINISTACK, config=config)


def _logs():
    return common.client("logs", MINISTACK)

# As on AWS, an agent's output goes to a log group the runtime creates on its first start,
# `/aws/bedrock-agentcore/runtimes/<runtime id>-<endpoint>`, which outlives the runtime: the
# provisioner must delete it (and the leak inventory sees it if it does not).
LOG_GROUP_PREFIX = "/aws/bedrock-agentcore/runtimes/"


def _create_log_group(runtime_id):
    try:
        _logs().create_log_group(logGroupName=f"{LOG_GROUP_PREFIX}{runtime_id}-DEFAULT")
    except _logs().exceptions.ResourceAlreadyExistsException:
        pass
_COGNITO = re.compile(r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/")


class Reject(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def emulated(url):
    """The emulator's address for an AWS-form Cognito URL."""
    return _COGNITO.sub(MINISTACK + "/", url)


def _get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


# --- runtime configuration ------------------------------------------------------------------


def runtime_config(arn, qualifier):
    runtime_id = arn.rsplit("/", 1)[-1]
    if not arn.startswith("arn:aws:bedrock-agentcore:") or ":runtime/" not in arn:
        raise Reject(400, "ValidationException", f"not an agent runtime ARN: {arn}")
    try:
        endpoint = _control().get_agent_runtime_endpoint(agentRuntimeId=runtime_id, endpointName=qualifier)
        version = endpoint.get("liveVersion") or endpoint.get("targetVersion")
        config = _control().get_agent_runtime(agentRuntimeId=runtime_id, agentRuntimeVersion=version)
    except _control().exceptions.ResourceNotFoundException as e:
        raise Reject(404, "ResourceNotFoundException", str(e)) from None
    if config.get("agentRuntimeArn") != arn:
        raise Reject(404, "ResourceNotFoundException", f"no agent runtime {arn}")
    if config.get("status") != "READY":
        raise Reject(409, "ConflictException", f"runtime {runtime_id} is {config.get('status')}")
    return runtime_id, str(config["agentRuntimeVersion"]), config


# --- the JWT authorizer ---------------------------------------------------------------------

_discovery_cache = {}
_jwks = {}
_cache_lock = threading.Lock()


def _discovery(url):
    with _cache_lock:
        hit = _discovery_cache.get(url)
        if hit and hit[0] > time.time():
            return hit[1]
    try:
        doc = _get_json(emulated(url))
    except (urllib.error.URLError, ValueError) as e:
        raise Reject(401, "AccessDeniedException", f"the authorizer's discovery URL does not answer: {e}") from None
    with _cache_lock:
        _discovery_cache[url] = (time.time() + 60, doc)
    return doc


def _signing_key(jwks_url, token):
    """The token's key from the pool's JWKS, cached; an unknown `kid` refetches at most once per
    interval (the agents' own cache: `agent_common.tokens.Jwks`)."""
    with _cache_lock:
        cache = _jwks.get(jwks_url)
        if cache is None:
            cache = _jwks[jwks_url] = tokens.Jwks(jwks_url)
    kid = jwt.get_unverified_header(token).get("kid")
    try:
        return cache.key(kid).key
    except tokens.Invalid as e:
        raise jwt.InvalidTokenError(str(e)) from None


def bearer(headers):
    """The one `Authorization` header's value. None, or more than one in whatever letter case,
    is refused: which of two would the authorizer have checked, and which would the agent read?"""
    values = headers.get_all("Authorization") or []
    if not values:
        raise Reject(401, "UnauthorizedException", "missing bearer token (Authorization header)")
    if len(values) > 1:
        raise Reject(400, "ValidationException", f"the request carries {len(values)} Authorization headers: send exactly one")
    return values[0]


def authorize(config, value):
    """The validated claims of the bearer token in `value` (the one Authorization header), or
    Reject(401/403) as AgentCore Runtime's authorizer would."""
    authorizer = (config.get("authorizerConfiguration") or {}).get("customJWTAuthorizer")
    if not authorizer:
        # Without a JWT authorizer AgentCore Runtime wants SigV4, which this host does not serve.
        raise Reject(403, "AccessDeniedException", "this runtime has no JWT authorizer; the local host serves only OAuth runtimes")
    allowed_clients = authorizer.get("allowedClients") or []
    allowed_audience = authorizer.get("allowedAudience") or []
    if not allowed_clients and not allowed_audience:
        # AWS requires one of them; an authorizer that names neither would admit every client.
        raise Reject(403, "AccessDeniedException", "the runtime's authorizer allows no client and no audience")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Reject(401, "UnauthorizedException", "the Authorization header is not a bearer token")
    token = token.strip()
    doc = _discovery(authorizer["discoveryUrl"])
    try:
        key = _signing_key(emulated(doc["jwks_uri"]), token)
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            issuer=doc["issuer"],
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            leeway=0,
        )
    except jwt.PyJWTError as e:
        raise Reject(401, "UnauthorizedException", f"invalid bearer token: {type(e).__name__}: {e}") from None
    if claims.get("token_use") != "access":
        raise Reject(401, "UnauthorizedException", "invalid bearer token: not an access token")
    if allowed_clients and claims.get("client_id") not in allowed_clients:
        raise Reject(403, "AccessDeniedException", "the token's client is not allowed by this runtime")
    if allowed_audience:
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if not any(a in allowed_audience for a in auds):
            raise Reject(403, "AccessDeniedException", "the token's audience is not allowed by this runtime")
    return claims


def forwarded(config, headers, authorization):
    """The allow-listed headers for the agent: `Authorization` exactly as validated, and any other
    allow-listed header only if it was sent once (two values are ambiguous: refused)."""
    allow = (config.get("requestHeaderConfiguration") or {}).get("requestHeaderAllowlist") or []
    out = {}
    for name in allow:
        if name.lower() == "authorization":
            out["Authorization"] = authorization
            continue
        values = headers.get_all(name) or []
        if len(values) > 1:
            raise Reject(400, "ValidationException", f"the request carries {len(values)} {name} headers: send at most one")
        if values:
            out[name] = values[0]
    return out


# --- AgentCore Gateway's MCP endpoint -----------------------------------------------------
#
# `https://<gateway id>.gateway.bedrock-agentcore.<region>.amazonaws.com/mcp` is served here as
# `/gateways/<gateway id>/mcp`. Each request: the gateway as the control plane has it (READY),
# its JWT authorizer (the same checks as a runtime's), then JSON-RPC: `initialize`,
# `tools/list`, `tools/call`. A call is decided by the gateway's policy engine with the real
# Cedar engine (cedar_gateway.decide) over the ACTIVE policies and the schema of the gateway's
# tools; ENFORCE denies as AWS does, with a tool result that is an error, not a JSON-RPC error.
# A permitted call goes to its target: a Lambda target is invoked with the arguments as its
# event and the tool's name in its client context (`bedrockAgentCoreToolName`).
# A REQUEST interceptor runs between the authorizer and the policy engine (`intercepted`).
# Not emulated: MCP sessions, streaming, `tools/list` filtered by the policies, other targets,
# RESPONSE interceptors.


def gateway_config(gateway_id):
    try:
        g = _control().get_gateway(gatewayIdentifier=gateway_id)
    except _control().exceptions.ResourceNotFoundException:
        raise Reject(404, "ResourceNotFoundException", f"no gateway {gateway_id}") from None
    if g.get("status") != "READY":
        raise Reject(409, "ConflictException", f"gateway {gateway_id} is {g.get('status')}")
    return g


def gateway_tools(gateway_id):
    """[(tool as MCP lists it, target)] of the gateway's READY targets with inline tool schemas."""
    out = []
    for summary in _control().list_gateway_targets(gatewayIdentifier=gateway_id)["items"]:
        target = _control().get_gateway_target(gatewayIdentifier=gateway_id, targetId=summary["targetId"])
        if target.get("status") != "READY":
            continue
        for spec in (target["targetConfiguration"].get("mcp") or {}).values():
            for tool in ((spec or {}).get("toolSchema") or {}).get("inlinePayload") or []:
                out.append(({"name": f"{target['name']}___{tool['name']}", "description": tool.get("description", ""),
                             "inputSchema": tool.get("inputSchema", {})}, target))
    return out


def gateway_policies(engine_arn):
    """The engine's ACTIVE policies in force, as one text."""
    engine_id = engine_arn.rsplit("/", 1)[-1]
    try:
        listed = _control().list_policies(policyEngineId=engine_id)["policies"]
    except _control().exceptions.ResourceNotFoundException:
        return ""  # the engine is gone: ENFORCE with no policy denies everything
    texts = []
    for p in listed:
        try:
            full = _control().get_policy(policyEngineId=engine_id, policyId=p["policyId"])
        except _control().exceptions.ResourceNotFoundException:
            continue  # deleted meanwhile
        if full.get("status") == "ACTIVE" and full.get("enforcementMode") == "ACTIVE":
            texts.append(full["definition"]["cedar"]["statement"])
    return "\n".join(texts)


def request_interceptor(g):
    """The gateway's REQUEST interceptor configuration, or None. A RESPONSE interceptor is not
    emulated, so a gateway that has one is refused rather than served without it."""
    found = None
    for item in g.get("interceptorConfigurations") or []:
        points = item.get("interceptionPoints") or []
        if "RESPONSE" in points:
            raise Reject(403, "AccessDeniedException", "the local gateway does not emulate RESPONSE interceptors")
        if "REQUEST" in points:
            found = item
    return found


def intercepted(g, item, headers, raw, message):
    """The JSON-RPC message as the gateway's REQUEST interceptor `item` leaves it, or (status,
    answer) when the interceptor answers for the gateway. AWS runs the interceptor after the JWT
    authorizer and before the policy engine, which evaluates the transformed request (AWS ML blog
    "Secure AI agents with Policy and Lambda interceptors in Amazon Bedrock AgentCore gateway");
    the event and answer shapes are the devguide's ("gateway-interceptors-types"). Headers are
    passed only with `passRequestHeaders`, their names in lower case (as HTTP/2 delivers them).
    An assumption, not documented by AWS: an interceptor that fails, or answers in another
    shape, fails the request here, so nothing reaches the policy engine or a target
    unintercepted."""
    request = {"path": "/mcp", "httpMethod": "POST", "body": message}
    if (item.get("inputConfiguration") or {}).get("passRequestHeaders"):
        request["headers"] = {k.lower(): v for k, v in headers.items()}
    event = {"interceptorInputVersion": "1.0", "mcp": {
        "rawGatewayRequest": {"body": (raw or b"").decode("utf-8", "replace")}, "gatewayRequest": request}}
    arn = item["interceptor"]["lambda"]["arn"]
    out = _lambda().invoke(FunctionName=arn, Payload=json.dumps(event).encode())
    payload = out["Payload"].read().decode()
    failed = _rpc(message.get("id") if isinstance(message, dict) else None,
                  error={"code": -32603, "message": "The request interceptor failed."})
    if out.get("FunctionError"):
        sys.stderr.write(f"runtime-host: gateway {g['gatewayId']}: the interceptor failed: {payload[:500]!r}\n")
        return 200, failed
    try:
        answer = json.loads(payload)
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict) or answer.get("interceptorOutputVersion") != "1.0" or not isinstance(answer.get("mcp"), dict):
        sys.stderr.write(f"runtime-host: gateway {g['gatewayId']}: the interceptor answered in no known shape\n")
        return 200, failed
    response = answer["mcp"].get("transformedGatewayResponse")
    if isinstance(response, dict):
        # "the gateway will respond with that content immediately"
        status = response.get("statusCode", 200)
        if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
            sys.stderr.write(f"runtime-host: gateway {g['gatewayId']}: the interceptor answered status {status!r}\n")
            return 200, failed
        return status, response.get("body")
    transformed = (answer["mcp"].get("transformedGatewayRequest") or {}).get("body")
    if not isinstance(transformed, dict) or transformed.get("jsonrpc") != "2.0" or not isinstance(transformed.get("method"), str):
        sys.stderr.write(f"runtime-host: gateway {g['gatewayId']}: the interceptor returned no JSON-RPC request\n")
        return 200, failed
    return transformed


def _rpc(request_id, result=None, error=None):
    out = {"jsonrpc": "2.0", "id": request_id}
    if error is not None:
        out["error"] = error
    else:
        out["result"] = result
    return out


def mcp(gateway_id, headers, body):
    """(HTTP status, JSON-RPC answer or None) for one MCP request to the gateway."""
    g = gateway_config(gateway_id)
    if g.get("authorizerType") != "CUSTOM_JWT":
        raise Reject(403, "AccessDeniedException", "the local gateway serves only CUSTOM_JWT authorizers")
    jwt_config = (g.get("authorizerConfiguration") or {}).get("customJWTAuthorizer") or {}
    unsupported = [k for k in ("allowedScopes", "customClaims", "allowedWorkloadConfiguration") if jwt_config.get(k)]
    if unsupported:
        # Not checked here, so not silently admitted either.
        raise Reject(403, "AccessDeniedException", f"the local gateway does not emulate {', '.join(unsupported)}")
    claims = authorize(g, bearer(headers))
    interceptor = request_interceptor(g)
    # Without an interceptor a key named twice is refused here (the policy and the tool must not
    # read different values); with one, the body is parsed as most parsers do (the last value
    # wins) and the interceptor, which gets the raw body too, decides.
    hook = None if interceptor else cedar_gateway._no_duplicates
    try:
        message = json.loads(body or b"{}", object_pairs_hook=hook)
    except (json.JSONDecodeError, cedar_gateway.Refused) as e:
        return 200, _rpc(None, error={"code": -32700, "message": f"Parse error: {e}"})
    if interceptor is not None:
        message = intercepted(g, interceptor, headers, body, message)
        if isinstance(message, tuple):
            return message  # the interceptor answered for the gateway
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or not isinstance(message.get("method"), str):
        return 200, _rpc(None, error={"code": -32600, "message": "Invalid Request"})
    request_id, method, params = message.get("id"), message["method"], message.get("params") or {}
    if "id" not in message:
        return 202, None  # a notification (notifications/initialized, ...): no answer
    if method == "initialize":
        return 200, _rpc(request_id, {
            "protocolVersion": params.get("protocolVersion") or "2025-06-18",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": g["name"], "version": "local"},
        })
    tools = gateway_tools(gateway_id)
    if method == "tools/list":
        return 200, _rpc(request_id, {"tools": [t for t, _ in tools]})
    if method != "tools/call":
        return 200, _rpc(request_id, error={"code": -32601, "message": f"Method not found: {method}"})
    name, arguments = params.get("name"), params.get("arguments", {})
    engine = g.get("policyEngineConfiguration")
    if engine:
        try:
            schema = cedar_gateway.schema_of_tools([t for t, _ in tools])
        except ValueError as e:
            schema, decision = None, {"allowed": False, "reason": f"{cedar_gateway.DENIED} [{e}]"}
        if schema is not None:
            decision = cedar_gateway.decide(gateway_policies(engine["arn"]), schema, claims, g["gatewayArn"], name, arguments)
        sys.stderr.write(f"runtime-host: gateway {gateway_id} {name!r}: {decision['reason']!r}\n")
        if not decision["allowed"] and engine.get("mode") == "ENFORCE":
            reason = decision["reason"]
            # The evaluator's own words (they echo the input and name what a policy reads) only
            # with exceptionLevel DEBUG, as AWS gives details.
            if g.get("exceptionLevel") != "DEBUG" and "could not be evaluated" in reason:
                reason = f"{cedar_gateway.DENIED} [The request could not be evaluated.]"
            return 200, _rpc(request_id, {"content": [{"type": "text", "text": reason}], "isError": True})
    target = next((t for tool, t in tools if tool["name"] == name), None)
    if target is None:
        return 200, _rpc(request_id, error={"code": -32602, "message": f"Unknown tool: {name}"})
    spec = target["targetConfiguration"]["mcp"]
    if "lambda" not in spec:
        return 200, _rpc(request_id, error={"code": -32603, "message": "the local gateway invokes Lambda targets only"})
    context = base64.b64encode(json.dumps({"custom": {"bedrockAgentCoreToolName": name}}).encode()).decode()
    out = _lambda().invoke(FunctionName=spec["lambda"]["lambdaArn"], Payload=json.dumps(arguments).encode(), ClientContext=context)
    payload = out["Payload"].read().decode()
    if out.get("FunctionError"):
        sys.stderr.write(f"runtime-host: gateway {gateway_id} {name!r}: the target failed: {payload[:500]!r}\n")
        return 200, _rpc(request_id, {"content": [{"type": "text", "text": "The tool failed."}], "isError": True})
    return 200, _rpc(request_id, {"content": [{"type": "text", "text": payload}], "isError": False})


# --- agent processes -----------------------------------------------------------------------


def _die_with_parent():
    # PR_SET_PDEATHSIG: an agent must not outlive a host that was killed outright.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    os.setpgrp()


# PR_SET_PDEATHSIG fires when the *thread* that started the child ends, and every request has
# its own thread: agents are started from this one long-lived thread instead.
_SPAWNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="spawner")


class Agent:
    def __init__(self, runtime_id, version, config):
        self.key = (runtime_id, version)
        code = config["agentRuntimeArtifact"]["codeConfiguration"]
        s3 = code["code"]["s3"]
        self.dir = os.path.join(RUNTIMES_DIR, runtime_id, version)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        body = _s3().get_object(Bucket=s3["bucket"], Key=s3["prefix"])["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            z.extractall(self.dir)
        entry = (code.get("entryPoint") or ["main.py"])[0]
        self.log_path = os.path.join(RUNTIMES_DIR, runtime_id, f"v{version}.log")
        # A free port can be taken by another process before the agent binds it: then the agent
        # exits with "address already in use" and starts again on another port.
        for attempt in range(3):
            self.port = common.free_port()
            self._spawn(entry, config)
            try:
                self._wait_ready()
                return
            except Reject:
                if attempt == 2 or "address already in use" not in self.log_tail().lower():
                    raise

    def _spawn(self, entry, config):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.dir,
            "PORT": str(self.port),
            "AGENT_BIND_HOST": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            # What the execution role gives on AWS, the emulator's dummy credentials give here.
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_ENDPOINT_URL": MINISTACK,
            "AWS_ENDPOINT_URL_RDS_DATA": DATA_API,
            **(config.get("environmentVariables") or {}),
            # Where this host serves the gateways (tutorial 4's agent calls its gateway here):
            # after the runtime's own variables, which cannot name it (the kind refuses it).
            "AGENTCORE_GATEWAY_ENDPOINT": f"http://127.0.0.1:{PORT}",
        }
        log = open(self.log_path, "ab")
        self.process = _SPAWNER.submit(
            subprocess.Popen,
            [sys.executable, "-S", os.path.join(self.dir, entry)],
            cwd=self.dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        ).result()
        log.close()

    def _wait_ready(self):
        deadline = time.time() + START_SECONDS
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise Reject(500, "RuntimeClientError", f"the agent exited during start-up (code {self.process.returncode}): {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=1):
                    pass
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
                continue
            # An answer on the port is not proof: another process may have taken it between our
            # look and the agent's bind, and would then be sent this runtime's callers.
            if common.owns_listener(self.process.pid, self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise Reject(500, "RuntimeClientError", f"Runtime initialization time exceeded: {self.log_tail()}")

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-1500:].decode(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Agents:
    def __init__(self):
        self.lock = threading.Lock()
        self.running = {}  # runtime id -> Agent (its live version only)

    def get(self, runtime_id, version, config):
        with self.lock:
            agent = self.running.get(runtime_id)
            if agent and agent.key == (runtime_id, version) and agent.alive():
                return agent
            if agent:
                agent.stop()
                del self.running[runtime_id]
            agent = Agent(runtime_id, version, config)
            _create_log_group(runtime_id)
            self.running[runtime_id] = agent
            return agent

    def prune(self):
        """Stops the agents of runtimes that no longer exist (destroyed) and removes their files."""
        with self.lock:
            ids = list(self.running)
        for runtime_id in ids:
            try:
                _control().get_agent_runtime(agentRuntimeId=runtime_id)
                continue
            except _control().exceptions.ResourceNotFoundException:
                pass
            except Exception:
                continue
            with self.lock:
                agent = self.running.pop(runtime_id, None)
            if agent:
                agent.stop()
            # Its logs go with it, as destroy removes a runtime's log group on AWS.
            shutil.rmtree(os.path.join(RUNTIMES_DIR, runtime_id), ignore_errors=True)

    def stop_all(self):
        with self.lock:
            for agent in self.running.values():
                agent.stop()
            self.running.clear()


AGENTS = Agents()


# --- HTTP -----------------------------------------------------------------------------------


class Handler(common.JsonHandler):
    # HTTP/1.0: the agent's streamed answer is passed on as it comes and ends with the connection.
    protocol_version = "HTTP/1.0"
    # Invocations with a bearer token or JSON, health and /local/agents; never a page's request:
    # see `local_common.refusal`.
    part = "runtime-host"

    def log_message(self, fmt, *args):
        sys.stderr.write("runtime-host: " + (fmt % args) + "\n")

    def do_GET(self):
        if self.refused():
            return
        if self.path == "/health":
            self.reply(200, {"status": "ok", "agents": len(AGENTS.running)})
        elif self.path == "/local/agents":
            # Where each running agent listens on 127.0.0.1: `cargo xtask verify` calls an agent
            # there directly, bypassing this host, to show that the agent checks tokens itself.
            with AGENTS.lock:
                running = [{"runtime_id": a.key[0], "version": a.key[1], "port": a.port} for a in AGENTS.running.values()]
            self.reply(200, {"agents": running})
        else:
            self.reply(404, {"message": "not found"}, "UnknownOperationException")

    def do_POST(self):
        if self.refused():
            return
        if not _in_flight.acquire(blocking=False):
            self.close_connection = True
            self.reply(429, {"message": f"Rate exceeded: more than {MAX_IN_FLIGHT} invocations in flight"}, "ThrottlingException")
            return
        try:
            self._invoke()
        except Reject as e:
            self.reply(e.status, {"message": e.message}, e.code)
        except Exception as e:  # a fault of the stand-in must say so
            self.reply(500, {"message": f"local runtime host internal error: {type(e).__name__}: {e}"}, "InternalServerException")
        finally:
            _in_flight.release()

    def _body(self):
        """The payload, at most MAX_PAYLOAD bytes (InvokeAgentRuntime's limit). A larger one is
        read and dropped (so that the client sees the answer) and refused with 413."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise Reject(411, "ValidationException", "send the payload with a Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise Reject(400, "ValidationException", "invalid Content-Length")
        if length > MAX_PAYLOAD:
            left = length if length <= 4 * MAX_PAYLOAD else 0
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
            self.close_connection = True
            raise Reject(413, "ValidationException", f"the payload is {length} bytes; InvokeAgentRuntime takes at most {MAX_PAYLOAD}")
        return self.rfile.read(length)

    def _invoke(self):
        url = urlsplit(self.path)
        gateway = re.fullmatch(r"/gateways/([^/]+)/mcp", url.path)
        if gateway:
            status, answer = mcp(unquote(gateway.group(1)), self.headers, self._body())
            if answer is None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.reply(status, answer)
            return
        match = re.fullmatch(r"/runtimes/(.+)/invocations", url.path)
        if not match:
            raise Reject(404, "UnknownOperationException", f"no such operation: POST {url.path}")
        arn = unquote(match.group(1))
        qualifier = (parse_qs(url.query).get("qualifier") or ["DEFAULT"])[0]
        session = self.headers.get(SESSION_HEADER)
        if session is not None and not 33 <= len(session) <= 256:
            raise Reject(400, "ValidationException", f"{SESSION_HEADER} must be 33 to 256 characters")
        body = self._body()
        runtime_id, version, config = runtime_config(arn, qualifier)
        authorization = bearer(self.headers)
        authorize(config, authorization)
        forward = forwarded(config, self.headers, authorization)
        agent = AGENTS.get(runtime_id, version, config)
        forward["Content-Type"] = self.headers.get("Content-Type", "application/json")
        forward[SESSION_HEADER] = session or f"local-{runtime_id}-{time.time_ns()}".ljust(33, "0")
        request = urllib.request.Request(f"http://127.0.0.1:{agent.port}/invocations", data=body, headers=forward, method="POST")
        try:
            response = urllib.request.urlopen(request, timeout=300)
        except urllib.error.HTTPError as e:
            response = e
        self.send_response(response.status)
        self.send_header("Content-Type", response.headers.get("Content-Type", "application/json"))
        self.send_header(SESSION_HEADER, forward[SESSION_HEADER])
        self.end_headers()
        while True:
            chunk = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
            if not chunk:
                break
            self.wfile.write(chunk)
            self.wfile.flush()


def main():
    # Everything this process writes (agent code unpacked from the emulator's S3, the agents'
    # logs) is its own user's alone.
    os.umask(0o077)
    os.makedirs(RUNTIMES_DIR, exist_ok=True)
    common.serve(PORT, Handler, AGENTS.prune, 5, AGENTS.stop_all)


if __name__ == "__main__":
    main()
