"""Tool-layer isolation, decided by the real Cedar engine as the local gateway decides it
(xtask/local-cloud/cedar_gateway.py, with tutorial 4's policies and tools): every way a broker
could call a claims tool for another tenant, or above the threshold, or around the schema.

Prints {"cases": [...], "failed": [...]} as JSON; exit 0 either way (the Rust test judges).
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "xtask/local-cloud"))
import cedar_gateway as cg  # noqa: E402

spec = json.loads((ROOT / "agents/tools/tools.json").read_text())
SCHEMA = cg.schema(spec["target"], spec["tools"])
ARN = "arn:aws:bedrock-agentcore:us-east-1:000000000000:gateway/agentcore-mt-pr-1-t4-tools-abcdefghij"
TEXT = (ROOT / "agents/tools/policies/claims_tools.cedar").read_text()
POLICIES = TEXT.replace("{{gateway_arn}}", ARN)

MIKE = {"sub": "sub-mike", "client_id": "app", "token_use": "access", "tenant_id": "broker-a", "cognito:groups": ["brokers"]}
EMMA = {"sub": "sub-emma", "client_id": "app", "token_use": "access", "tenant_id": "broker-b", "cognito:groups": ["brokers"]}
SENIOR = dict(MIKE, **{"cognito:groups": ["brokers", "senior-broker"]})


def claim(tenant, amount):
    return {"tenant_id": tenant, "policy_holder": "Alice Johnson", "claim_type": "auto", "amount_usd": amount}


T = spec["target"]
CASES = [
    # (name, claims, tool, arguments as JSON text, allowed, the reason or policy expected)
    ("a broker lists their own tenant's claims", MIKE, f"{T}___list_my_claims", '{"tenant_id": "broker-a"}', True, "broker_reads_own_tenant"),
    ("the other broker lists theirs", EMMA, f"{T}___list_my_claims", '{"tenant_id": "broker-b"}', True, "broker_reads_own_tenant"),
    ("a broker lists the other tenant's claims", MIKE, f"{T}___list_my_claims", '{"tenant_id": "broker-b"}', False, "denied by default"),
    ("a broker gets the other tenant's claim", MIKE, f"{T}___get_claim", '{"tenant_id": "broker-b", "claim_id": "CLM-B-001"}', False, "denied by default"),
    ("a broker files a claim for their own tenant at the threshold", MIKE, f"{T}___file_claim", json.dumps(claim("broker-a", 10000)), True, "broker_files_own_tenant"),
    ("a broker files above the threshold", MIKE, f"{T}___file_claim", json.dumps(claim("broker-a", 10001)), False, "denied by default"),
    ("a senior broker files above the threshold", SENIOR, f"{T}___file_claim", json.dumps(claim("broker-a", 250000)), True, "senior_broker_files_large_claims"),
    ("a senior broker files above the threshold for the other tenant", SENIOR, f"{T}___file_claim", json.dumps(claim("broker-b", 250000)), False, "denied by default"),
    ("a broker files for the other tenant below the threshold", MIKE, f"{T}___file_claim", json.dumps(claim("broker-b", 10)), False, "denied by default"),
    ("a group whose name holds the senior group's, quoted", dict(MIKE, **{"cognito:groups": ['x"senior-broker"y']}), f"{T}___file_claim", json.dumps(claim("broker-a", 20000)), False, "denied by default"),
    ("a group ending with the senior group's name, quoted", dict(MIKE, **{"cognito:groups": ['x"senior-broker']}), f"{T}___file_claim", json.dumps(claim("broker-a", 20000)), False, "denied by default"),
    ("a group whose name closes its element and opens the senior group's", dict(MIKE, **{"cognito:groups": ['a","senior-broker']}), f"{T}___file_claim", json.dumps(claim("broker-a", 20000)), False, "denied by default"),
    ("the senior group second in the list", dict(MIKE, **{"cognito:groups": ["brokers", "senior-broker"]}), f"{T}___file_claim", json.dumps(claim("broker-a", 20000)), True, "senior_broker_files_large_claims"),
    ("an empty tenant in the token and the arguments", dict(MIKE, tenant_id=""), f"{T}___list_my_claims", '{"tenant_id": ""}', False, "denied by default"),
    ("a group whose name starts like the senior group's", dict(MIKE, **{"cognito:groups": ["senior-broker-trainee"]}), f"{T}___file_claim", json.dumps(claim("broker-a", 20000)), False, "denied by default"),
    ("the senior group's name as a plain string claim, not a list", dict(MIKE, **{"cognito:groups": "senior-broker"}), f"{T}___file_claim", json.dumps(claim("broker-a", 20000)), False, "denied by default"),
    ("a zero claim", MIKE, f"{T}___file_claim", json.dumps(claim("broker-a", 0)), False, "denied by default"),
    ("a negative claim", MIKE, f"{T}___file_claim", json.dumps(claim("broker-a", -5)), False, "denied by default"),
    ("an amount past a 64-bit integer", SENIOR, f"{T}___file_claim", json.dumps(claim("broker-a", 2**63)), False, "could not be evaluated"),
    ("an amount as a string", MIKE, f"{T}___file_claim", json.dumps(claim("broker-a", "200")), False, "could not be evaluated"),
    ("an amount as a decimal", MIKE, f"{T}___file_claim", json.dumps(claim("broker-a", 200.5)), False, "could not be evaluated"),
    ("a token without a tenant", {k: v for k, v in MIKE.items() if k != "tenant_id"}, f"{T}___list_my_claims", '{"tenant_id": "broker-a"}', False, "denied by default"),
    ("a tenant claim that is a list", dict(MIKE, tenant_id=["broker-a"]), f"{T}___list_my_claims", '{"tenant_id": "broker-a"}', False, "denied by default"),
    ("a tenant claim that is null", dict(MIKE, tenant_id=None), f"{T}___list_my_claims", '{"tenant_id": "broker-a"}', False, "denied by default"),
    ("another tenant claim name (custom:tenant_id) says the other tenant", dict(MIKE, **{"custom:tenant_id": "broker-b"}), f"{T}___list_my_claims", '{"tenant_id": "broker-b"}', False, "denied by default"),
    ("a token without sub", {k: v for k, v in MIKE.items() if k != "sub"}, f"{T}___list_my_claims", '{"tenant_id": "broker-a"}', False, "no `sub`"),
    ("the tenant in another case", MIKE, f"{T}___list_my_claims", '{"tenant_id": "Broker-A"}', False, "denied by default"),
    ("the tenant with a trailing space", MIKE, f"{T}___list_my_claims", '{"tenant_id": "broker-a "}', False, "denied by default"),
    ("the tenant with a non-breaking hyphen", MIKE, f"{T}___list_my_claims", '{"tenant_id": "broker\\u2011b"}', False, "denied by default"),
    ("a tenant that tries to close the string", MIKE, f"{T}___list_my_claims", '{"tenant_id": "broker-b\\" || true || \\""}', False, "denied by default"),
    ("the tenant key twice, own tenant last", MIKE, f"{T}___list_my_claims", '{"tenant_id": "broker-b", "tenant_id": "broker-a"}', False, "twice"),
    ("an argument the schema does not have", MIKE, f"{T}___list_my_claims", '{"tenant_id": "broker-a", "as_tenant": "broker-b"}', False, "could not be evaluated"),
    ("the tenant argument missing", MIKE, f"{T}___list_my_claims", "{}", False, "could not be evaluated"),
    ("arguments that are a list", MIKE, f"{T}___list_my_claims", '["broker-a"]', False, "not an object"),
    ("arguments that are null", MIKE, f"{T}___list_my_claims", "null", False, "not an object"),
    ("arguments that are not JSON", MIKE, f"{T}___list_my_claims", "{tenant_id: broker-a}", False, "not JSON"),
    ("a tool the gateway does not have", MIKE, f"{T}___delete_claims", '{"tenant_id": "broker-a"}', False, "could not be evaluated"),
    ("a tool name in another case", MIKE, f"{T.lower()}___list_my_claims", '{"tenant_id": "broker-a"}', False, "could not be evaluated"),
    ("a tool of another target", MIKE, "OtherTools___list_my_claims", '{"tenant_id": "broker-a"}', False, "could not be evaluated"),
    ("the bare tool name, without its target", MIKE, "list_my_claims", '{"tenant_id": "broker-a"}', False, "could not be evaluated"),
]


def run():
    cases, failed = [], []
    for name, claims, tool, raw, allowed, expect in CASES:
        try:
            args = cg.arguments(raw)
            answer = cg.decide(POLICIES, SCHEMA, claims, ARN, tool, args)
        except cg.Refused as e:
            answer = {"allowed": False, "reason": f"{cg.DENIED} [{e}]", "policies": [], "source": "gateway"}
        said = answer["reason"] + " " + " ".join(answer["policies"])
        ok = answer["allowed"] == allowed and expect in said
        if not allowed and "twice" not in expect and "not an object" not in expect and "not JSON" not in expect:
            # A denial of a well-formed call comes from the policy engine, in AWS's words.
            ok = ok and answer["source"] == "policy-engine" and answer["reason"].startswith(cg.DENIED)
        case = {"name": name, "allowed": answer["allowed"], "reason": answer["reason"], "policies": answer["policies"], "ok": ok}
        cases.append(case)
        if not ok:
            failed.append(case)

    # Another gateway's ARN: the policies name this gateway only.
    other = cg.decide(POLICIES, SCHEMA, MIKE, ARN.replace("abcdefghij", "zzzzzzzzzz"), f"{T}___list_my_claims", {"tenant_id": "broker-a"})
    case = {"name": "the same call on another gateway", "allowed": other["allowed"], "reason": other["reason"], "ok": not other["allowed"]}
    cases.append(case)
    if not case["ok"]:
        failed.append(case)

    # A forbid wins over every permit, and the denial names it.
    kill = POLICIES + '\n@id("tools_switched_off")\nforbid (principal, action, resource is AgentCore::Gateway);\n'
    off = cg.decide(kill, SCHEMA, MIKE, ARN, f"{T}___list_my_claims", {"tenant_id": "broker-a"})
    case = {"name": "a forbid overrides the permit, named in the denial", "allowed": off["allowed"], "reason": off["reason"],
            "ok": not off["allowed"] and "tools_switched_off" in off["reason"]}
    cases.append(case)
    if not case["ok"]:
        failed.append(case)

    # What validate refuses before any call: the shipped policies pass; a misspelled field, a
    # policy without a resource, one without an @id, a template, a placeholder left unfilled
    # are refused.
    checks = [
        ("the shipped policies validate against the tools' schema", POLICIES, True),
        ("a misspelled input field", POLICIES.replace("context.input.amount_usd > 0", "context.input.amount > 0"), False),
        ("a policy that constrains no resource", POLICIES + '\n@id("all")\npermit (principal, action, resource);\n', False),
        ("a policy without an @id", POLICIES + '\npermit (principal, action, resource is AgentCore::Gateway) when { false };\n', False),
        ("a template", POLICIES + '\n@id("tpl")\npermit (principal == ?principal, action, resource is AgentCore::Gateway);\n', False),
        ("a tag compared with a number", POLICIES.replace('context.input.tenant_id == principal.getTag("tenant_id")', 'context.input.amount_usd == principal.getTag("tenant_id")', 1), False),
        ("an action the tools do not have", POLICIES.replace('ClaimsTools___get_claim"', 'ClaimsTools___get_claims"'), False),
    ]
    for name, text, valid in checks:
        errors = cg.validate(text, SCHEMA)
        case = {"name": f"validate: {name}", "errors": errors[:2], "ok": (not errors) == valid}
        cases.append(case)
        if not case["ok"]:
            failed.append(case)
    print(json.dumps({"cases": cases, "failed": failed}))


if __name__ == "__main__":
    run()
