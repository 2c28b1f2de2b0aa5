"""The runtime entry point, through the HTTP contract of AgentCore Runtime (`/invocations`):
what reaches `build` is the token's claims and nothing the caller adds elsewhere."""
import json

import pytest
from starlette.testclient import TestClient
from strands import Agent, tool

from agent_common import identity, runtime
from agent_common.offline_model import OfflineToolModel


@pytest.fixture
def served(monkeypatch):
    monkeypatch.setenv("MODEL_ID", "offline")
    seen = []

    def build(claims):
        tier = identity.tier(claims)
        seen.append((claims, tier))

        @tool
        def whoami(query: str) -> str:
            """Who the tools act for.

            Args:
                query: the question
            """
            return f"tier={tier} sub={claims['sub']}"

        sources = [f"test tier {tier}"]
        agent = Agent(model=runtime.model(lambda p, t: ("whoami", {"query": p})), tools=[whoami], callback_handler=None)
        return agent, sources

    return TestClient(runtime.app(build)), seen


def text(response):
    out = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            out.append(json.loads(line[len("data: "):]))
    return "".join(out)


def test_answer_streams_from_the_tools_for_the_token_caller(served, token):
    client, seen = served
    tok = token({"sub": "u-1", "token_use": "access", "cognito:groups": ["regular"]})
    r = client.post(
        "/invocations",
        json={"prompt": "I am platinum", "tier": "platinum", "cognito:groups": ["platinum"]},
        headers={"Authorization": f"Bearer {tok}", "X-Tier": "platinum"},
    )
    assert r.status_code == 200
    assert text(r) == "[offline model]\ntier=regular sub=u-1\n\nSources: test tier regular"
    assert [t for _, t in seen] == ["regular"]


@pytest.mark.parametrize(
    "headers,status",
    [({}, 401), ({"Authorization": "Bearer x.y"}, 401), ({"Authorization": "Basic abc"}, 401)],
)
def test_no_usable_token_is_an_error_without_an_agent(served, headers, status):
    client, seen = served
    r = client.post("/invocations", json={"prompt": "hi"}, headers=headers)
    assert r.status_code == status
    assert seen == []


def test_no_tier_is_403_and_several_tiers_too(served, token):
    client, seen = served
    for groups in ([], ["regular", "platinum"]):
        tok = token({"sub": "u-1", "token_use": "access", "cognito:groups": groups})
        r = client.post("/invocations", json={"prompt": "hi"}, headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 403, r.text
    assert seen == []


def test_prompt_is_required(served, token):
    client, _ = served
    tok = token({"sub": "u-1", "token_use": "access", "cognito:groups": ["regular"]})
    for payload in ({}, {"prompt": ""}, {"prompt": 3}):
        r = client.post("/invocations", json=payload, headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 400


def test_model_setting(monkeypatch):
    monkeypatch.delenv("MODEL_ID", raising=False)
    with pytest.raises(RuntimeError, match="MODEL_ID"):
        runtime.model(lambda p, t: None)
    monkeypatch.setenv("MODEL_ID", "offline")
    assert isinstance(runtime.model(lambda p, t: None), OfflineToolModel)
    monkeypatch.setenv("MODEL_ID", "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    from strands.models.bedrock import BedrockModel

    model = runtime.model(lambda p, t: None)
    assert isinstance(model, BedrockModel)
    assert model.get_config()["model_id"] == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_region_comes_from_either_variable_or_is_an_error(monkeypatch):
    from agent_common import aws

    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(RuntimeError, match="AWS_REGION"):
        aws.region()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert aws.region() == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert aws.region() == "us-west-2"


@pytest.mark.parametrize("second", ["Authorization", "authorization", "AUTHORIZATION"])
def test_two_authorization_headers_over_http_are_refused_before_any_agent(served, token, second):
    """`context.request_headers` keeps only one of two Authorization headers; the entry point
    reads the raw headers and refuses both orders."""
    client, seen = served
    good = token({"sub": "u-1", "token_use": "access", "cognito:groups": ["regular"]})
    other = token({"sub": "u-2", "token_use": "access", "cognito:groups": ["platinum"]})
    for first, last in ((good, other), (other, good)):
        r = client.post(
            "/invocations",
            json={"prompt": "hi"},
            headers=[("Authorization", f"Bearer {first}"), (second, f"Bearer {last}")],
        )
        assert r.status_code == 401, r.text
        assert "more than one" in r.text
    assert seen == []


def test_a_forged_token_is_refused_by_the_agent_itself(served, token):
    """Straight to the agent (no authorizer in front): an edited payload with the original
    signature never reaches `build`."""
    import base64

    client, seen = served
    good = token({"sub": "u-1", "token_use": "access", "cognito:groups": ["regular"]})
    head, payload, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["cognito:groups"] = ["platinum"]
    forged = ".".join([head, base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode(), sig])
    r = client.post("/invocations", json={"prompt": "hi"}, headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401, r.text
    assert seen == []
