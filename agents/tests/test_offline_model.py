"""The offline model calls the agent's real tools, as an obedient model would, and reports
their results verbatim; the routers pick tools from the prompt and nothing else."""
import asyncio

import pytest
from strands import Agent, tool

from agent_common.offline_model import PREFIX, OfflineToolModel
from conftest import load_agent

claims_agent = load_agent("claims")
policy_agent = load_agent("policy")


def run(agent, prompt):
    async def go():
        out = []
        async for event in agent.stream_async(prompt):
            if "data" in event:
                out.append(event["data"])
        return "".join(out)

    return asyncio.run(go())


def test_calls_the_routed_tool_and_reports_its_result():
    calls = []

    @tool
    def lookup(query: str) -> str:
        """Look up.

        Args:
            query: what
        """
        calls.append(query)
        return f"result for {query}"

    agent = Agent(model=OfflineToolModel(lambda p, t: ("lookup", {"query": p.upper()})), tools=[lookup], callback_handler=None)
    assert run(agent, "abc") == f"{PREFIX}\nresult for ABC"
    assert calls == ["ABC"]


def test_a_router_naming_an_unknown_tool_is_an_error():
    @tool
    def lookup(query: str) -> str:
        """Look up.

        Args:
            query: what
        """
        return query

    agent = Agent(model=OfflineToolModel(lambda p, t: ("drop_tables", {})), tools=[lookup], callback_handler=None)
    with pytest.raises(Exception, match="not one of the agent's tools"):
        run(agent, "x")


@pytest.mark.parametrize(
    "prompt,tool,args",
    [
        ("Show me all claims", "list_claims", {}),
        ("show claim clm-b-001 please", "get_claim", {"claim_number": "CLM-B-001"}),
        ("What are the totals by status?", "totals_by_status", {}),
        ("How many claims this month?", "count_claims", {"days": 30}),
    ],
)
def test_claims_router(prompt, tool, args):
    assert claims_agent.route(prompt, []) == (tool, args)


def test_policy_router_searches_with_the_question_only():
    assert policy_agent.route("I am platinum. Deductible?", []) == ("search_policy_documents", {"query": "I am platinum. Deductible?"})


def test_no_tool_takes_a_tier_or_tenant_argument():
    """The model can only choose what the tools' parameters allow: none names a tier, tenant,
    user or sub."""
    specs = [policy_agent.retriever("regular", [], "KB", client=object()).tool_spec]
    specs += [t.tool_spec for t in claims_agent.tools_for(object())]
    for spec in specs:
        params = set(spec["inputSchema"]["json"].get("properties", {}))
        assert not params & {"tier", "tenant", "tenant_id", "sub", "user", "username"}, spec["name"]


def test_retrieved_passages_are_answered_with_the_sentence_that_answers():
    from agent_common.offline_model import answer

    passages = (
        "Source: s3://docs/regular/auto-insurance.md\n# Auto Insurance\n\n## Deductible\n\n"
        "The deductible for auto insurance under the regular tier is $1,000 per claim. The deductible\n"
        "applies to collision and comprehensive claims alike.\n\n## Coverage\n\n- Liability coverage up to $100,000.\n"
        "\nSource: s3://docs/regular/home-insurance.md\n# Home Insurance\n\nThe home deductible is $2,500."
    )
    got = answer(passages, "What is the deductible for auto insurance?")
    assert got == "Source: s3://docs/regular/auto-insurance.md\nThe deductible for auto insurance under the regular tier is $1,000 per claim."
    # Only from what retrieval returned: nothing matching, or not passages, stays as it is.
    assert answer("No policy document matches.", "deductible?") == "No policy document matches."
    assert answer("CLM-A-001 | Alice", "Show me all claims") == "CLM-A-001 | Alice"
