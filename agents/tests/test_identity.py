"""Token handling: the caller comes only from the bearer access token, and anything unusual
is refused rather than guessed."""
import pytest

from agent_common import identity


def headers(tok):
    return {"Authorization": f"Bearer {tok}"}


def access(**extra):
    return {"sub": "u-1", "token_use": "access", "client_id": "c", **extra}


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
