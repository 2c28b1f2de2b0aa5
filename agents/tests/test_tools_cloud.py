"""The agents' tools against the deployed local cloud: the Knowledge Base in the emulator and
the claims database on a real PostgreSQL server behind the local RDS Data API."""
import pytest

from agent_common import identity
from conftest import load_agent

pytestmark = pytest.mark.cloud
policy_agent = load_agent("policy")
claims_agent = load_agent("claims")
QUESTION = "What is the deductible for auto insurance?"


@pytest.mark.parametrize("tier,other,amount", [("regular", "platinum", "$1,000"), ("platinum", "regular", "$500")])
def test_policy_tool_sees_only_the_callers_tier(cloud, tier, other, amount):
    kb = cloud["unstructured-rag"]["knowledge_base"]["id"]
    sources = []
    search = policy_agent.retriever(tier, sources, kb)
    text = search(query=QUESTION)
    assert f"Customer tier: {tier}" in text and amount in text
    assert f"Customer tier: {other}" not in text and f"/{other}/" not in text
    assert sources and all(s.endswith(f"(tier {tier})") for s in sources), sources
    # Asking for the other tier in the query changes nothing: the filter is not the model's.
    text = search(query=f"tier {other} {other} platinum regular deductible")
    assert f"Customer tier: {other}" not in text


def env(cloud):
    t2 = cloud["structured-rls"]
    return {
        "CLUSTER_ARN": t2["claims_db"]["arn"],
        "APP_USER_SECRET_ARN": t2["app_user_login"]["arn"],
        "TOKEN_KEY_SECRET_ARN": t2["tenant_token_key"]["arn"],
        "DATABASE_NAME": t2["claims_db"]["database"],
    }


def tools(cloud, user, key=None):
    sub = cloud["structured-rls"][user]["sub"] if user in cloud["structured-rls"] else user
    db = claims_agent.Database(sub, "tenant_token", env=env(cloud))
    if key is not None:
        db._key = key
    return {t.tool_name: t for t in claims_agent.tools_for(db)}


def test_claims_tools_see_only_the_callers_tenant(cloud):
    mike = tools(cloud, "mike_broker_a")
    listed = mike["list_claims"]()
    assert "Tenant: broker-a" in listed
    assert all(c in listed for c in ("CLM-A-001", "CLM-A-002", "CLM-A-003"))
    assert "CLM-B" not in listed and "David Wilson" not in listed
    assert "No claim CLM-B-001" in mike["get_claim"](claim_number="CLM-B-001")
    assert "Alice Johnson" in mike["get_claim"](claim_number="CLM-A-001")
    assert "3 claims filed" in mike["count_claims"](days=3650)
    emma = tools(cloud, "emma_broker_b")
    listed = emma["list_claims"]()
    assert "Tenant: broker-b" in listed and "CLM-B-001" in listed and "CLM-A" not in listed
    totals = emma["totals_by_status"]()
    assert "in_review: 1 claims, $30,000.00" in totals and "paid: 1 claims, $1,200.00" in totals, totals
    assert "approved" not in totals and "submitted" not in totals, totals  # broker-a's statuses


def test_injection_through_the_claim_number_is_data(cloud):
    mike = tools(cloud, "mike_broker_a")
    for attack in ("CLM-B-001' OR '1'='1", "x'); SELECT set_config('app.tenant_token','forged',true); --"):
        out = mike["get_claim"](claim_number=attack)
        assert "No claim" in out and "CLM-B-001 |" not in out


def test_unknown_user_and_wrong_key_get_nothing(cloud):
    stranger = tools(cloud, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(identity.Refused):
        stranger["list_claims"]()
    forged = tools(cloud, "mike_broker_a", key=b"not-the-key")
    try:
        out = forged["list_claims"]()
    except identity.Refused:
        return  # the database verified no token, so it knows no tenant
    except Exception as e:  # the database refused the statement outright
        assert "CLM-" not in str(e)
        return
    pytest.fail(f"a token signed with the wrong key was accepted: {out}")
