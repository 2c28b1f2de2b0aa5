"""Shared fixtures. Unit tests need nothing; tests marked `cloud` run against a deployed local
cloud (ministack, the local Data API over real PostgreSQL) and fail, never skip, without one:
`xtask/tests/agents.rs` deploys, then runs this suite with AGENT_OUTPUTS and the endpoints set.
Run the unit tests alone with `-m "not cloud"`."""
import base64
import functools
import json
import os
import sys
import time

import jwt
import pytest

HERE = os.path.dirname(__file__)
sys.path[:0] = [os.path.join(HERE, "..", "common")]


def pytest_configure(config):
    config.addinivalue_line("markers", "cloud: needs the deployed local cloud (AGENT_OUTPUTS)")


def b64(obj):
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool"
CLIENT = "test-client"
KID = "test-key"


@functools.lru_cache(maxsize=None)
def signing_key(kid=KID):
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks(*kids):
    keys = []
    for kid in kids or (KID,):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key(kid).public_key()))
        keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
    return {"keys": keys}


def make_token(claims, header=None, kid=KID, defaults=True):
    """An access token of the test pool signed with its key: `iss`, `client_id`, `exp` are
    filled in unless given (or `defaults=False`)."""
    if defaults:
        now = int(time.time())
        claims = {"iss": ISSUER, "client_id": CLIENT, "exp": now + 600, "iat": now, **claims}
    return jwt.encode(claims, signing_key(kid), algorithm="RS256", headers={"kid": kid, **(header or {})})


@pytest.fixture(autouse=True)
def test_pool(monkeypatch):
    """The agents' settings point at the test pool, whose JWKS is served from memory; the
    fixture's `fetches` counts the JWKS requests."""
    from agent_common import tokens

    fetched = []

    def fetch(url):
        fetched.append(url)
        return jwks()

    monkeypatch.setenv("AUTH_ISSUER", ISSUER)
    monkeypatch.setenv("AUTH_ALLOWED_CLIENTS", f"{CLIENT},another-client")
    monkeypatch.setattr(tokens, "fetch_json", fetch)
    monkeypatch.setattr(tokens, "_caches", {})
    return fetched


@pytest.fixture
def token():
    return make_token


@pytest.fixture(scope="session")
def cloud():
    path = os.environ.get("AGENT_OUTPUTS")
    if not path:
        pytest.fail("AGENT_OUTPUTS is not set: cloud tests run from `cargo nextest run` (xtask/tests/agents.rs), or select -m 'not cloud'")
    with open(path) as f:
        return json.load(f)


def load_agent(name):
    """Imports agents/<name>/main.py as its own module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"{name}_main", os.path.join(HERE, "..", name, "main.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
