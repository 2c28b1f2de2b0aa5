"""The claims agent (tutorial 2): answers a broker's questions about their claims from the
claims database, through the RDS Data API, as the non-superuser `app_user`, calling only the
parameterized functions of schema `api`.

The tenant is never chosen here: every transaction carries a token signed for the caller's
`sub` (from the validated access token) and bound to that transaction; the database verifies it
and maps `sub` to the tenant, and Row-Level Security does the rest. The model can only choose
which function to call and a claim number."""
import datetime
import re

from strands import Agent, tool

from agent_common import identity, runtime
from agent_common.claims_db import Database

SYSTEM_PROMPT = """You help an insurance broker with their claims. Use the tools and answer only
from what they return; quote claim numbers and amounts exactly. The tools only ever see the
broker's own claims: never claim to be, or act for, another broker."""

CLAIM_NUMBER = re.compile(r"\bCLM-[A-Za-z0-9]+-\d+\b", re.IGNORECASE)


def route(prompt, tools):
    """For the offline model: pick the tool the prompt asks for."""
    number = CLAIM_NUMBER.search(prompt)
    text = prompt.lower()
    if number:
        return "get_claim", {"claim_number": number.group(0).upper()}
    if "total" in text or "status" in text:
        return "totals_by_status", {}
    if "how many" in text or "count" in text:
        return "count_claims", {"days": 30}
    return "list_claims", {}


def money(amount):
    return f"${float(amount):,.2f}"


def tools_for(db, sources=None):
    sources = [] if sources is None else sources

    def header(tenant):
        if tenant is None:
            raise identity.Refused("the claims database knows no tenant for this user")
        sources.append(f"claims database, tenant {tenant}")
        return f"Tenant: {tenant}"

    @tool
    def list_claims() -> str:
        """List the broker's claims, newest first."""
        tenant, rows = db.call("SELECT * FROM api.list_claims()")
        lines = [header(tenant)] + [
            f"{r[0]} | {r[1]} | {r[2]} | {money(r[3])} | {r[4]} | filed {r[5]}" for r in rows
        ]
        return "\n".join(lines + ([] if rows else ["No claims."]))

    @tool
    def get_claim(claim_number: str) -> str:
        """Show one of the broker's claims.

        Args:
            claim_number: the claim number, like CLM-A-001
        """
        tenant, rows = db.call(
            "SELECT * FROM api.claim_by_number(:n)", [{"name": "n", "value": {"stringValue": claim_number}}]
        )
        if not rows:
            return f"{header(tenant)}\nNo claim {claim_number} among this broker's claims."
        r = rows[0]
        return f"{header(tenant)}\n{r[0]} | {r[1]} | {r[2]} | {money(r[3])} | {r[4]} | filed {r[5]}\n{r[6] or ''}".rstrip()

    @tool
    def count_claims(days: int = 30) -> str:
        """Count the broker's claims filed in the last `days` days.

        Args:
            days: how many days back to count
        """
        days = max(1, min(int(days), 3660))
        now = datetime.datetime.now(datetime.timezone.utc)
        since = now - datetime.timedelta(days=days)
        tenant, rows = db.call(
            "SELECT api.count_claims(CAST(:from AS timestamptz), CAST(:to AS timestamptz))",
            [
                {"name": "from", "value": {"stringValue": since.isoformat()}},
                {"name": "to", "value": {"stringValue": now.isoformat()}},
            ],
        )
        return f"{header(tenant)}\n{rows[0][0]} claims filed in the last {days} days."

    @tool
    def totals_by_status() -> str:
        """Number and total amount of the broker's claims per status."""
        tenant, rows = db.call("SELECT * FROM api.totals_by_status()")
        lines = [header(tenant)] + [f"{r[0]}: {r[1]} claims, {money(r[2])}" for r in rows]
        return "\n".join(lines)

    return [list_claims, get_claim, count_claims, totals_by_status]


def build(claims):
    db = Database(identity.subject(claims), key_name="tenant_token")
    sources = []
    agent = Agent(
        model=runtime.model(route),
        tools=tools_for(db, sources),
        system_prompt=SYSTEM_PROMPT,
        callback_handler=None,
    )
    return agent, sources


app = runtime.app(build)

if __name__ == "__main__":
    runtime.serve(app)
