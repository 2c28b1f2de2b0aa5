"""Who is calling: the claims of the bearer access token, verified here (signature, issuer,
expiry, token use, client: `tokens.py`) even though AgentCore Runtime's JWT authorizer has
already validated it, so that a request that bypassed the authorizer is refused too. The runtime
forwards the `Authorization` header because the stack allow-lists it; nothing else the caller
sends (prompt, payload fields, other headers) is ever read here. A request with more than one
`Authorization` header, in whatever letter case, is ambiguous and refused.
"""
import os

from . import tokens

# The tiers the policy documents are tagged with (`tier` in their metadata sidecars).
TIERS = ("regular", "platinum")


class Refused(Exception):
    """The caller may not be served. The message says why; it never contains the token."""

    status = 403


class Unauthenticated(Refused):
    """No usable identity at all."""

    status = 401


def _values(headers, name):
    """Every value of header `name` (any letter case) in a dict or a list of pairs."""
    items = headers.items() if hasattr(headers, "items") else headers
    return [value for key, value in (items or []) if key.lower() == name]


def bearer(headers):
    """The one bearer token in `headers` (not verified here: `token_claims` does that)."""
    values = _values(headers, "authorization")
    if not values:
        raise Unauthenticated("no Authorization header: send the Cognito access token as a bearer token")
    if len(values) > 1:
        raise Unauthenticated("more than one Authorization header: send exactly one bearer token")
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header is not a bearer token")
    return token.strip()


def token_claims(headers, environ=None):
    """The verified claims of the one bearer access token in `headers`."""
    token = bearer(headers)
    try:
        issuer, clients = tokens.settings(environ or os.environ)
        return tokens.verify(token.strip(), issuer, clients, tokens.jwks_for(issuer))
    except tokens.NotAllowed as e:
        raise Refused(str(e)) from None
    except tokens.Invalid as e:
        raise Unauthenticated(str(e)) from None


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
