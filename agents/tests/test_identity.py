"""Token handling: the caller comes only from the bearer access token, and anything unusual
is refused rather than guessed."""
import pytest

from agent_common import identity


def headers(tok):
    return {"Authorization": f"Bearer {tok}"}


def access(**extra):
    return {"sub": "u-1", "token_use": "access", "client_id": "test-client", **extra}


def test_missing_header_is_unauthenticated():
    for h in (None, {}, {"X-Other": "x"}):
        with pytest.raises(identity.Unauthenticated) as e:
            identity.token_claims(h)
        assert e.value.status == 401


@pytest.mark.parametrize("value", ["Basic dXNlcjpwdw==", "Bearer", "Bearer ", "bearer a.b", "Token a.b.c"])
def test_not_a_bearer_jwt(value):
    with pytest.raises(identity.Unauthenticated):
        identity.token_claims({"Authorization": value})


@pytest.mark.parametrize("payload", ["!!!", "bm90IGpzb24", "WzEsMl0"])  # garbage, "not json", "[1,2]"
def test_malformed_payload(payload):
    with pytest.raises(identity.Unauthenticated):
        identity.token_claims({"Authorization": f"Bearer aGVhZA.{payload}.c2ln"})


def test_id_token_and_missing_sub_are_refused(token):
    with pytest.raises(identity.Unauthenticated, match="not an access token"):
        identity.token_claims(headers(token({"sub": "u-1", "token_use": "id", "aud": "c"})))
    with pytest.raises(identity.Unauthenticated, match="sub"):
        identity.token_claims(headers(token({"token_use": "access"})))
    with pytest.raises(identity.Unauthenticated, match="sub"):
        identity.token_claims(headers(token({"token_use": "access", "sub": ""})))


def test_header_name_is_case_insensitive(token):
    claims = identity.token_claims({"authorization": f"Bearer {token(access())}"})
    assert claims["sub"] == "u-1"


@pytest.mark.parametrize(
    "groups,tier",
    [(["regular"], "regular"), (["platinum"], "platinum"), (["admins", "platinum"], "platinum"), ("regular", "regular")],
)
def test_tier_from_groups(groups, tier):
    assert identity.tier(access(**{"cognito:groups": groups})) == tier


@pytest.mark.parametrize(
    "claims,reason",
    [
        (access(), "no known tier"),
        (access(**{"cognito:groups": []}), "no known tier"),
        (access(**{"cognito:groups": ["gold"]}), "no known tier"),
        (access(**{"cognito:groups": ["regular", "platinum"]}), "several"),
        (access(**{"cognito:groups": {"platinum": True}}), "not a list"),
    ],
)
def test_tier_fails_closed(claims, reason):
    with pytest.raises(identity.Refused, match=reason) as e:
        identity.tier(claims)
    assert e.value.status == 403


def test_refusal_never_echoes_the_token(token):
    secret = token({"sub": "u-1", "token_use": "id"})
    with pytest.raises(identity.Refused) as e:
        identity.token_claims(headers(secret))
    assert secret not in str(e.value)


# --- the agent verifies the token itself (a request may have bypassed the authorizer) ---------

from conftest import CLIENT, ISSUER, jwks, make_token  # noqa: E402
from agent_common import tokens  # noqa: E402


def edited(tok, **changes):
    """The token with its payload changed and the signature kept."""
    import base64
    import json

    head, payload, sig = tok.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{body}.{sig}"


def test_a_valid_token_of_the_pool_is_accepted():
    claims = identity.token_claims(headers(make_token(access(**{"cognito:groups": ["regular"]}))))
    assert claims["sub"] == "u-1" and claims["client_id"] == CLIENT and claims["iss"] == ISSUER


@pytest.mark.parametrize(
    "forge,reason",
    [
        (lambda t: edited(t, **{"cognito:groups": ["platinum"]}), "Signature"),
        (lambda t: edited(t, sub="emma"), "Signature"),
        (lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), "Signature"),
        (lambda t: make_token(access(), kid="other-key"), "not one of the pool's keys"),
        (lambda t: make_token(access(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other")), "Issuer"),
        (lambda t: make_token(access(exp=int(__import__("time").time()) - 60)), "Expired"),
        (lambda t: make_token(access(nbf=int(__import__("time").time()) + 60)), "Immature"),
        (lambda t: make_token({"sub": "u-1", "token_use": "access", "client_id": CLIENT}, defaults=False), "exp"),
        (lambda t: __import__("jwt").encode(access(iss=ISSUER, exp=9999999999), "secret", algorithm="HS256", headers={"kid": "test-key"}), "RS256"),
        (lambda t: "eyJhbGciOiJub25lIiwia2lkIjoidGVzdC1rZXkifQ." + t.split(".")[1] + ".", "RS256"),
    ],
    ids=["edited-group", "edited-sub", "tampered-signature", "unknown-key", "other-issuer", "expired", "not-yet-valid", "no-exp", "hs256-confusion", "alg-none"],
)
def test_forged_or_foreign_tokens_are_unauthenticated(forge, reason):
    with pytest.raises(identity.Unauthenticated, match=reason) as e:
        identity.token_claims(headers(forge(make_token(access(**{"cognito:groups": ["regular"]})))))
    assert e.value.status == 401


def test_expiry_has_a_few_seconds_of_leeway_and_no_more():
    import time

    now = int(time.time())
    identity.token_claims(headers(make_token(access(exp=now - 2))))
    with pytest.raises(identity.Unauthenticated, match="Expired"):
        identity.token_claims(headers(make_token(access(exp=now - tokens.LEEWAY_SECONDS - 5))))


def test_another_client_of_the_pool_is_refused_with_403():
    with pytest.raises(identity.Refused, match="client") as e:
        identity.token_claims(headers(make_token(access(client_id="not-allowed"))))
    assert e.value.status == 403


@pytest.mark.parametrize(
    "hs",
    [
        [("Authorization", "Bearer {good}"), ("Authorization", "Bearer {forged}")],
        [("Authorization", "Bearer {forged}"), ("Authorization", "Bearer {good}")],
        [("authorization", "Bearer {good}"), ("AUTHORIZATION", "Bearer {forged}")],
        [("Authorization", "Bearer {good}"), ("authorization", "Bearer {good}")],
    ],
    ids=["valid-then-forged", "forged-then-valid", "mixed-case", "same-twice"],
)
def test_two_authorization_headers_are_refused_whatever_their_order_or_case(hs):
    good = make_token(access(**{"cognito:groups": ["regular"]}))
    forged = edited(good, **{"cognito:groups": ["platinum"]})
    pairs = [(k, v.format(good=good, forged=forged)) for k, v in hs]
    with pytest.raises(identity.Unauthenticated, match="more than one"):
        identity.token_claims(pairs)
    as_dict = {k: v for k, v in pairs}
    if len(as_dict) == 2:  # a dict can hold both only when the letter case differs
        with pytest.raises(identity.Unauthenticated, match="more than one"):
            identity.token_claims(as_dict)


def test_without_settings_every_caller_is_refused(monkeypatch):
    monkeypatch.delenv("AUTH_ALLOWED_CLIENTS")
    with pytest.raises(identity.Unauthenticated, match="AUTH_ISSUER"):
        identity.token_claims(headers(make_token(access())))


def test_unknown_key_ids_refetch_the_jwks_at_most_once_per_interval():
    clock = [1000.0]
    fetched = []

    def fetch(url):
        fetched.append(url)
        return jwks()

    cache = tokens.Jwks("https://example/jwks.json", fetch=fetch, clock=lambda: clock[0])
    good = make_token(access())
    for _ in range(3):
        tokens.verify(good, ISSUER, [CLIENT], cache)
    assert len(fetched) == 1  # cached
    for _ in range(50):  # an unauthenticated caller sending made-up key ids
        with pytest.raises(tokens.Invalid):
            tokens.verify(make_token(access(), kid="made-up"), ISSUER, [CLIENT], cache)
    assert len(fetched) == 1, "within the interval no unknown kid refetches"
    clock[0] += tokens.REFETCH_SECONDS
    with pytest.raises(tokens.Invalid):
        tokens.verify(make_token(access(), kid="made-up"), ISSUER, [CLIENT], cache)
    assert len(fetched) == 2
    clock[0] += tokens.KEYS_TTL
    tokens.verify(good, ISSUER, [CLIENT], cache)
    assert len(fetched) == 3, "stale keys are refetched"


def test_an_unreachable_pool_refuses_rather_than_accepts():
    def fetch(url):
        raise OSError("connection refused")

    cache = tokens.Jwks("https://example/jwks.json", fetch=fetch)
    with pytest.raises(tokens.Invalid, match="cannot be read"):
        tokens.verify(make_token(access()), ISSUER, [CLIENT], cache)


def test_a_failed_fetch_is_retried_at_most_once_per_interval():
    clock = [1000.0]
    tries = []

    def fetch(url):
        tries.append(clock[0])
        if len(tries) == 1:
            raise OSError("connection refused")
        return jwks()

    cache = tokens.Jwks("https://example/jwks.json", fetch=fetch, clock=lambda: clock[0])
    good = make_token(access())
    for _ in range(50):  # every request while the pool was unreachable
        with pytest.raises(tokens.Invalid, match="cannot be read"):
            tokens.verify(good, ISSUER, [CLIENT], cache)
    assert len(tries) == 1, "a failed fetch was retried by every request"
    clock[0] += tokens.REFETCH_SECONDS
    tokens.verify(good, ISSUER, [CLIENT], cache)
    assert len(tries) == 2


def test_jwks_url_follows_the_cognito_endpoint_override():
    assert tokens.jwks_url(ISSUER, {}) == ISSUER + "/.well-known/jwks.json"
    assert tokens.jwks_url(ISSUER, {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566/"}) == "http://127.0.0.1:4566/us-east-1_TestPool/.well-known/jwks.json"
    assert tokens.jwks_url(ISSUER, {"AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_COGNITO_IDP": "http://b"}).startswith("http://b/")
