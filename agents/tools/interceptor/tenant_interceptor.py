"""Tutorial 4's REQUEST interceptor on the claims gateway: every tool call's `tenant_id` is the
tenant of the caller's access token, verified here, whatever the model or the caller wrote.

AgentCore Gateway invokes it after its JWT authorizer and before its policy engine, which
evaluates the request as it leaves here ("The Gateway evaluates the request interceptor before
the Cedar policy", AWS ML blog "Secure AI agents with Policy and Lambda interceptors in Amazon
Bedrock AgentCore gateway"; the event and answer shapes: devguide "gateway-interceptors-types").
The gateway passes the request headers (`passRequestHeaders: true`). The token is verified here
again, as the agents verify theirs (`agents/common/agent_common/tokens.py`): RS256 against the
pool's JWKS, `iss` (`AUTH_ISSUER`), `token_use` access, `client_id` in `AUTH_ALLOWED_CLIENTS`,
`exp`/`nbf`, a `sub`; so a second, forged `Authorization` header, or a request that did not pass
the authorizer, gets no tenant. The token is never logged, stored or returned.

A `tools/call` leaves with `tenant_id` set as follows:
- absent: the token's tenant;
- the token's tenant: unchanged;
- anything else (another tenant, not a string, a key given twice in the raw request, a raw
  request that cannot be read), or a token that is not exactly one valid access token with a
  tenant: `MISMATCH`, a value that is no tenant. No policy permits it, so the caller sees the
  policy engine's denial, as they would without this function; and were the engine detached or
  in LOG_ONLY mode, the tools refuse it (it is not a tenant id).
A JSON-RPC batch is answered with an error at once (its calls would pass unpinned). Everything
else (`initialize`, `tools/list`, notifications, the gateway's own requests when a policy is
created) passes unchanged.

No third-party package: a Lambda function's zip here holds only these sources, so the RS256 check
is RFC 8017's RSASSA-PKCS1-v1_5 verification (section 8.2.2: encode the expected message and
compare it whole, never parse the decrypted one), with Python's own integers and hashlib.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import urllib.request

TENANT = re.compile(r"[a-z0-9-]{1,50}")
MISMATCH = "(not the caller's tenant)"
LEEWAY_SECONDS = 5
KEYS_TTL = 3600
REFETCH_SECONDS = 30
MIN_KEY_BITS = 2048
# DER of DigestInfo for SHA-256 (RFC 8017, section 9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_COGNITO = re.compile(r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com(?=/)")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class Refused(Exception):
    """No tenant for this request: the message says why (never the token)."""


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise Refused(f"`{key}` given twice")
        seen[key] = value
    return seen


def _b64(segment):
    if not _B64URL.fullmatch(segment):
        raise Refused("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _int(value):
    return int.from_bytes(_b64(value), "big")


def rs256_valid(signing_input, signature, n, e):
    """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017, section 8.2.2)."""
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(k, "big")
    t = SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest()
    if k < len(t) + 11:
        return False
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(em, expected)


def jwks_url(issuer, environ=os.environ):
    """The pool's JWKS; where the Cognito endpoint is overridden (the local cloud), there."""
    endpoint = environ.get("AWS_ENDPOINT_URL_COGNITO_IDP") or environ.get("AWS_ENDPOINT_URL")
    url = issuer.rstrip("/") + "/.well-known/jwks.json"
    return _COGNITO.sub(endpoint.rstrip("/"), url) if endpoint else url


def fetch_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


class Keys:
    """The pool's RSA signing keys by `kid`, cached for KEYS_TTL; an unknown `kid` refetches at
    most once per REFETCH_SECONDS, and so does a failed fetch."""

    def __init__(self, url, fetch=fetch_json, clock=time.monotonic):
        self.url, self.fetch, self.clock = url, fetch, clock
        self.lock = threading.Lock()
        self.keys, self.fetched_at, self.tried_at = {}, None, None

    def key(self, kid):
        with self.lock:
            now = self.clock()
            fresh = self.fetched_at is not None and now - self.fetched_at < KEYS_TTL
            if fresh and kid in self.keys:
                return self.keys[kid]
            if self.tried_at is None or now - self.tried_at >= REFETCH_SECONDS:
                self.tried_at = now
                try:
                    self.keys = self._parse(self.fetch(self.url))
                    self.fetched_at = now
                except Exception as e:  # an unreachable pool or a bad document: no tenant
                    raise Refused(f"the pool's signing keys cannot be read ({type(e).__name__})") from None
            elif not fresh:
                raise Refused("the pool's signing keys cannot be read (retried in a few seconds)")
            if kid not in self.keys:
                raise Refused("the token's signing key is not one of the pool's keys")
            return self.keys[kid]

    @staticmethod
    def _parse(document):
        keys = {}
        for k in document["keys"]:
            if k.get("kty") != "RSA" or k.get("alg", "RS256") != "RS256" or k.get("use", "sig") != "sig":
                continue
            n, e = _int(k["n"]), _int(k["e"])
            if n.bit_length() >= MIN_KEY_BITS and e == 65537:
                keys[k["kid"]] = (n, e)
        return keys


_keys = {}
_keys_lock = threading.Lock()


def keys_for(issuer):
    url = jwks_url(issuer)
    with _keys_lock:
        return _keys.setdefault(url, Keys(url))


def verified_claims(token, issuer, clients, keys, now=None):
    """The claims of `token` if it is a valid access token of `issuer` for one of `clients`."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Refused("not a JWT")
    try:
        header = json.loads(_b64(parts[0]), object_pairs_hook=_no_duplicates)
        claims = json.loads(_b64(parts[1]), object_pairs_hook=_no_duplicates)
        signature = _b64(parts[2])
    except (ValueError, TypeError):
        raise Refused("not a JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Refused("not a JWT")
    if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
        raise Refused("not signed with RS256 by a named key")
    n, e = keys.key(header["kid"])
    if not rs256_valid(f"{parts[0]}.{parts[1]}".encode(), signature, n, e):
        raise Refused("the signature does not verify")
    now = time.time() if now is None else now
    if claims.get("iss") != issuer:
        raise Refused("another issuer")
    if claims.get("token_use") != "access":
        raise Refused("not an access token")
    if claims.get("client_id") not in clients:
        raise Refused("an app client the gateway does not allow")
    exp, nbf = claims.get("exp"), claims.get("nbf", now)
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp + LEEWAY_SECONDS <= now:
        raise Refused("expired")
    if not isinstance(nbf, (int, float)) or isinstance(nbf, bool) or nbf - LEEWAY_SECONDS > now:
        raise Refused("not valid yet")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Refused("no subject")
    return claims


def settings(environ=os.environ):
    """(issuer, allowed clients): missing settings give no tenant to anyone."""
    issuer = environ.get("AUTH_ISSUER", "").strip()
    clients = [c.strip() for c in environ.get("AUTH_ALLOWED_CLIENTS", "").split(",") if c.strip()]
    if not issuer or not clients:
        raise Refused("AUTH_ISSUER and AUTH_ALLOWED_CLIENTS are not set")
    return issuer, clients


def token_tenant(headers, environ=os.environ, keys=None):
    """The `tenant_id` claim of the one verified bearer access token in `headers`."""
    values = [v for k, v in (headers or {}).items() if isinstance(k, str) and k.lower() == "authorization"]
    if len(values) != 1 or not isinstance(values[0], str):
        raise Refused("not exactly one Authorization header")
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused("not a bearer token")
    issuer, clients = settings(environ)
    claims = verified_claims(token.strip(), issuer, clients, keys or keys_for(issuer))
    tenant = claims.get("tenant_id")
    if not isinstance(tenant, str) or not TENANT.fullmatch(tenant):
        raise Refused("the token carries no tenant")
    return tenant


def _names_a_key_twice(raw):
    """Whether the raw request names a key twice (which value the gateway kept is not
    documented); a raw request that cannot be read counts as ambiguous too."""
    if not isinstance(raw, str):
        return True
    try:
        json.loads(raw, object_pairs_hook=_no_duplicates)
    except (Refused, ValueError):
        return True
    return False


def pinned(body, raw, tenant_of):
    """The JSON-RPC `body` with its tool call's `tenant_id` pinned; `tenant_of()` the verified
    token's tenant (or Refused)."""
    if not isinstance(body, dict) or body.get("method") != "tools/call":
        return body
    params = body.get("params")
    if not isinstance(params, dict):
        return body
    args = params.get("arguments", {})
    if not isinstance(args, dict):
        return body  # not an object: the policy engine and the tools refuse it as it is
    try:
        tenant = tenant_of()
        if _names_a_key_twice(raw):
            raise Refused("a key is given twice in the request")
        if "tenant_id" in args and args["tenant_id"] != tenant:
            raise Refused("the call names another tenant")
        value = tenant
    except Refused as why:
        sys.stderr.write(f"tenant interceptor: {params.get('name')!r} gets no tenant: {why}\n")
        value = MISMATCH
    return dict(body, params=dict(params, arguments=dict(args, tenant_id=value)))


def handler(event, context=None, environ=os.environ, keys=None):
    mcp = (event or {}).get("mcp") or {}
    request = mcp.get("gatewayRequest") or {}
    raw = (mcp.get("rawGatewayRequest") or {}).get("body")
    body = request.get("body")
    if isinstance(body, list):
        error = {"code": -32600, "message": "Invalid Request: send one JSON-RPC request at a time (no batches)"}
        return {"interceptorOutputVersion": "1.0", "mcp": {"transformedGatewayResponse": {
            "statusCode": 200, "body": {"jsonrpc": "2.0", "id": None, "error": error}}}}
    body = pinned(body, raw, lambda: token_tenant(request.get("headers"), environ, keys))
    return {"interceptorOutputVersion": "1.0", "mcp": {"transformedGatewayRequest": {"body": body}}}
