"""Who is calling, from the access token that AgentCore Runtime's JWT authorizer has already
validated (signature, issuer, expiry, client). The runtime forwards the `Authorization` header
because the stack allow-lists it; nothing else the caller sends (prompt, payload fields, other
headers) is ever read here.

The agent does not verify the signature again: an invocation that reaches it has passed the
authorizer. What it does check is the shape, so that a misconfigured runtime (no authorizer)
fails closed instead of trusting whatever it is given: an access token with a `sub`.
"""
import base64
import binascii
import json

# The tiers the policy documents are tagged with (`tier` in their metadata sidecars).
TIERS = ("regular", "platinum")


class Refused(Exception):
    """The caller may not be served. The message says why; it never contains the token."""

    status = 403


class Unauthenticated(Refused):
    """No usable identity at all."""

    status = 401


def _header(headers, name):
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def token_claims(headers):
    """The claims of the bearer access token in `headers`."""
    value = _header(headers, "authorization")
    if not value:
        raise Unauthenticated("no Authorization header: send the Cognito access token as a bearer token")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header is not a bearer token")
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise Unauthenticated("the bearer token is not a JWT")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        raise Unauthenticated("the bearer token's payload is not JSON") from None
    if not isinstance(payload, dict):
        raise Unauthenticated("the bearer token's payload is not a JSON object")
    if payload.get("token_use") != "access":
        raise Unauthenticated("the bearer token is not an access token (token_use must be 'access')")
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthenticated("the access token names no subject (sub)")
    return payload


def tier(claims):
    """The caller's tier from `cognito:groups`: exactly one known tier group, or refuse. Never
    a default, and never the more privileged of two."""
    groups = claims.get("cognito:groups", [])
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        raise Refused("cognito:groups is not a list")
    known = sorted({g for g in groups if g in TIERS})
    if not known:
        raise Refused(f"the token carries no known tier group ({', '.join(TIERS)}): refusing rather than guessing")
    if len(known) > 1:
        raise Refused(f"the token carries several tier groups ({', '.join(known)}): refusing rather than picking one")
    return known[0]


def subject(claims):
    """The Cognito user's `sub`: the claims database maps it to the tenant."""
    return claims["sub"]
