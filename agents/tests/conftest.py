"""Shared fixtures. Unit tests need nothing; tests marked `cloud` run against a deployed local
cloud (ministack, the local Data API over real PostgreSQL) and fail, never skip, without one:
`xtask/tests/agents.rs` deploys, then runs this suite with AGENT_OUTPUTS and the endpoints set.
Run the unit tests alone with `-m "not cloud"`."""
import base64
import json
import os
import sys

import pytest

HERE = os.path.dirname(__file__)
sys.path[:0] = [os.path.join(HERE, "..", "common")]


def pytest_configure(config):
    config.addinivalue_line("markers", "cloud: needs the deployed local cloud (AGENT_OUTPUTS)")


def b64(obj):
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_token(claims, header=None):
    """A JWT-shaped token with these claims (unsigned: the runtime validated it already)."""
    return f"{b64(header or {'alg': 'RS256', 'kid': 'k'})}.{b64(claims)}.{b64(b'signature')}"


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
