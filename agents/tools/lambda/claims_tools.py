"""Tutorial 4's claims tools: the Lambda function behind AgentCore Gateway's `ClaimsTools`
target (agents/tools/tools.json).

The tenant is the caller's verified access token's, never the model's: the gateway's REQUEST
interceptor (agents/tools/interceptor) sets every call's `tenant_id` to the token's `tenant_id`
claim, or to a value that is no tenant when the call named another; then the policy engine, in
ENFORCE mode, allows a tool only when `tenant_id` is that claim
(agents/tools/policies/claims_tools.cedar). Either wall alone keeps a call to the caller's
tenant: without the engine, a forged tenant reaches this function as a value refused below.
The event is the tool's arguments; the tool's name, `<target>___<tool>`, is in the client
context.

Every call runs in the claims database under a token for `tenant:<tenant_id>` (sql/007), signed
with the tools' own key: Row-Level Security keeps the transaction to that tenant, so a claim
number of another tenant is simply not found. The database is reached as `app_user`, through
the parameterized `api.*` functions only, as the claims agent does.

Answers are JSON objects; a refusal is `{"error": ...}` (a tool result, not a failure)."""
import json
import os
import re

from agent_common.claims_db import Database

TARGET = "ClaimsTools"
TENANT = re.compile(r"[a-z0-9-]{1,50}")
CLAIM = re.compile(r"CLM-[A-Z0-9]{1,10}-[0-9]{1,6}")
TYPES = ("auto", "home", "life", "travel")
MAX_TEXT = 500


class Refused(Exception):
    pass


def tool_name(context):
    custom = getattr(getattr(context, "client_context", None), "custom", None) or {}
    name = custom.get("bedrockAgentCoreToolName") or ""
    target, sep, tool = name.partition("___")
    if not sep or target != TARGET:
        raise Refused(f"not a tool of {TARGET}: {name!r}")
    return tool


def text(args, key, required=True):
    value = args.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise Refused(f"{key} must be a non-empty string of at most {MAX_TEXT} characters")
    return value.strip()


def claim(row):
    keys = ("claim_number", "customer_name", "policy_type", "claim_amount", "status", "filed_at", "description")
    return {k: v for k, v in zip(keys, row)}


def list_my_claims(db, args):
    tenant, rows = db.call("SELECT * FROM api.list_claims()")
    return {"tenant": tenant, "claims": [claim(r) for r in rows]}


def get_claim(db, args):
    number = text(args, "claim_id").upper()
    if not CLAIM.fullmatch(number):
        raise Refused("claim_id looks like CLM-A-001")
    tenant, rows = db.call("SELECT * FROM api.claim_by_number(:n)", [{"name": "n", "value": {"stringValue": number}}])
    if not rows:
        return {"tenant": tenant, "error": f"no claim {number} among this tenant's claims"}
    return {"tenant": tenant, "claim": claim(rows[0])}


def file_claim(db, args):
    holder = text(args, "policy_holder")
    kind = text(args, "claim_type").lower()
    if kind not in TYPES:
        raise Refused(f"claim_type is one of {', '.join(TYPES)}")
    amount = args.get("amount_usd")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= 10_000_000:
        raise Refused("amount_usd is a whole number of US dollars above 0")
    description = text(args, "description", required=False)
    tenant, rows = db.call(
        "SELECT * FROM api.file_claim(:holder, :kind, CAST(:amount AS numeric), :description)",
        [
            {"name": "holder", "value": {"stringValue": holder}},
            {"name": "kind", "value": {"stringValue": kind}},
            {"name": "amount", "value": {"longValue": amount}},
            {"name": "description", "value": {"stringValue": description}},
        ],
    )
    return {"tenant": tenant, "filed": claim(rows[0])}


TOOLS = {"list_my_claims": list_my_claims, "get_claim": get_claim, "file_claim": file_claim}


def handler(event, context, env=os.environ):
    try:
        tool = TOOLS.get(tool_name(context))
        if tool is None:
            raise Refused("unknown tool")
        if not isinstance(event, dict):
            raise Refused("the arguments are not an object")
        tenant = event.get("tenant_id")
        if not isinstance(tenant, str) or not TENANT.fullmatch(tenant):
            raise Refused("tenant_id is the caller's tenant, as their token says")
        answer = tool(Database(f"tenant:{tenant}", key_name="tool_token", env=env), event)
        if answer.get("tenant") != tenant:
            # The database knows no such tenant (or the token failed): nothing was read.
            return {"error": f"the claims database knows no tenant {tenant}"}
        return answer
    except Refused as refused:
        return {"error": str(refused)}
