"""The agent's own check of the bearer access token, the same on both targets: defence in depth
behind AgentCore Runtime's JWT authorizer. A request that reaches the agent without passing the
authorizer (a bypassed or misconfigured host, a direct call to the agent's port) is refused here.

- RS256 signature against the pool's JWKS, fetched from `<issuer>/.well-known/jwks.json` and
  cached (`KEYS_TTL`); an unknown `kid` refetches at most once per `REFETCH_SECONDS`, so an
  unauthenticated caller cannot make the agent hammer the pool;
- `iss` equal to the pool's issuer (`AUTH_ISSUER`), `token_use` `access`, `client_id` one of
  `AUTH_ALLOWED_CLIENTS` (comma-separated), `exp` (and `nbf` when present) with
  `LEEWAY_SECONDS` of leeway, a `sub`.

The runtime kind sets `AUTH_ISSUER` and `AUTH_ALLOWED_CLIENTS` from the same stack references as
the runtime's authorizer. Where the Cognito endpoint is overridden (`AWS_ENDPOINT_URL_COGNITO_IDP`
or `AWS_ENDPOINT_URL`: the local cloud), the JWKS is read there; the issuer is still the AWS form.
"""
import json
import os
import re
import threading
import time
import urllib.request

import jwt

LEEWAY_SECONDS = 5
KEYS_TTL = 3600
REFETCH_SECONDS = 30
_COGNITO = re.compile(r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com(?=/)")


class Invalid(Exception):
    """The token is not a valid access token of this runtime's pool: 401."""

    status = 401


class NotAllowed(Invalid):
    """A valid token of the pool, issued to a client this runtime does not allow: 403."""

    status = 403


def fetch_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def jwks_url(issuer, environ=os.environ):
    endpoint = environ.get("AWS_ENDPOINT_URL_COGNITO_IDP") or environ.get("AWS_ENDPOINT_URL")
    url = issuer.rstrip("/") + "/.well-known/jwks.json"
    return _COGNITO.sub(endpoint.rstrip("/"), url) if endpoint else url


class Jwks:
    """The pool's signing keys by `kid`, cached; refetched when stale, or for an unknown `kid`
    at most once per `REFETCH_SECONDS`."""

    def __init__(self, url, fetch=None, clock=time.monotonic):
        self.url, self.fetch, self.clock = url, fetch or fetch_json, clock
        self.lock = threading.Lock()
        self.keys = {}
        self.fetched_at = None  # last successful fetch
        self.tried_at = None  # last attempt, successful or not
        self.fetches = 0

    def key(self, kid):
        with self.lock:
            now = self.clock()
            fresh = self.fetched_at is not None and now - self.fetched_at < KEYS_TTL
            if fresh and kid in self.keys:
                return self.keys[kid]
            # After a failed fetch, the next one waits REFETCH_SECONDS too: an unreachable pool
            # must not turn every request into a fetch (and every caller into a wait on the lock).
            failed = self.tried_at is not None and self.tried_at != self.fetched_at
            settled = self.tried_at is not None and now - self.tried_at < REFETCH_SECONDS
            if failed and settled:
                raise Invalid("the pool's signing keys cannot be read (the last try failed; retried in a few seconds)")
            if self.tried_at is None or not fresh or not settled:
                self._refresh(now)
            if kid not in self.keys:
                raise Invalid("the token's signing key is not one of the pool's keys")
            return self.keys[kid]

    def _refresh(self, now):
        self.tried_at = now
        self.fetches += 1
        try:
            keys = jwt.PyJWKSet.from_dict(self.fetch(self.url)).keys
        except Exception as e:  # unreachable pool or a bad document: refuse, never accept
            raise Invalid(f"the pool's signing keys cannot be read ({type(e).__name__})") from None
        self.keys = {k.key_id: k for k in keys if k.key_id}
        self.fetched_at = now


_caches = {}
_caches_lock = threading.Lock()


def jwks_for(issuer):
    url = jwks_url(issuer)
    with _caches_lock:
        if url not in _caches:
            _caches[url] = Jwks(url)
        return _caches[url]


def settings(environ=os.environ):
    """(issuer, allowed clients) from the runtime's environment; missing settings refuse all."""
    issuer = environ.get("AUTH_ISSUER", "").strip()
    clients = [c.strip() for c in environ.get("AUTH_ALLOWED_CLIENTS", "").split(",") if c.strip()]
    if not issuer or not clients:
        raise Invalid("the agent has no AUTH_ISSUER / AUTH_ALLOWED_CLIENTS: it refuses every caller")
    return issuer, clients


def verify(token, issuer, allowed_clients, jwks):
    """The claims of `token` if it is a valid access token of `issuer` for one of
    `allowed_clients`; otherwise Invalid (401) or NotAllowed (403)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Invalid("the bearer token is not a JWT") from None
    if header.get("alg") != "RS256":
        raise Invalid("the bearer token is not signed with RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Invalid("the bearer token names no signing key (kid)")
    try:
        claims = jwt.decode(
            token,
            jwks.key(kid),
            algorithms=["RS256"],
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "sub", "token_use", "client_id"], "verify_aud": False},
        )
    except jwt.PyJWTError as e:
        raise Invalid(f"invalid bearer token: {type(e).__name__}: {e}") from None
    if claims.get("token_use") != "access":
        raise Invalid("the bearer token is not an access token (token_use must be 'access')")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Invalid("the access token names no subject (sub)")
    if claims.get("client_id") not in allowed_clients:
        raise NotAllowed("the token's app client is not allowed by this agent")
    return claims
