"""The claims agent (tutorial 2): answers a broker's questions about their claims from the
claims database, through the RDS Data API, as the non-superuser `app_user`, calling only the
parameterized functions of schema `api`.

The tenant is never chosen here: every transaction carries a token signed for the caller's
`sub` (from the validated access token) and bound to that transaction; the database verifies it
and maps `sub` to the tenant, and Row-Level Security does the rest. The model can only choose
which function to call and a claim number."""
import datetime
import hashlib
import hmac
import json
import os
import re
import time

from botocore.exceptions import ClientError
from strands import Agent, tool

from agent_common import aws, identity, runtime

SYSTEM_PROMPT = """You help an insurance broker with their claims. Use the tools and answer only
from what they return; quote claim numbers and amounts exactly. The tools only ever see the
broker's own claims: never claim to be, or act for, another broker."""

# A token outlives its transaction by little: it is bound to the transaction id anyway.
TOKEN_SECONDS = 60
# How long the agent waits for an auto-paused cluster to resume before it gives up.
RESUME_SECONDS = 60
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


class Database:
    """The claims database for one caller (`sub`), through the Data API."""

    def __init__(self, sub, client=None, env=os.environ):
        self.sub = sub
        self.client = client or aws.client("rds-data")
        self.cluster = env["CLUSTER_ARN"]
        self.secret = env["APP_USER_SECRET_ARN"]
        self.key_secret = env["TOKEN_KEY_SECRET_ARN"]
        self.database = env["DATABASE_NAME"]
        self._key = None

    def key(self):
        if self._key is None:
            secrets = aws.client("secretsmanager")
            value = secrets.get_secret_value(SecretId=self.key_secret)["SecretString"]
            self._key = json.loads(value)["tenant_token"].encode()
        return self._key

    def _execute(self, sql, params=(), tx=None):
        kwargs = dict(resourceArn=self.cluster, secretArn=self.secret, database=self.database, sql=sql)
        if params:
            kwargs["parameters"] = list(params)
        if tx:
            kwargs["transactionId"] = tx
        return self.client.execute_statement(**kwargs).get("records", [])

    def begin(self):
        """BeginTransaction, waiting while an auto-paused cluster resumes (minimum capacity 0:
        the first call after a pause gets DatabaseResumingException for up to about 15 s)."""
        delay, deadline = 0.5, time.monotonic() + RESUME_SECONDS
        while True:
            try:
                return self.client.begin_transaction(resourceArn=self.cluster, secretArn=self.secret, database=self.database)[
                    "transactionId"
                ]
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") != "DatabaseResumingException" or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def call(self, sql, params=()):
        """Runs one `api.*` call in its own transaction, under a token for this caller."""
        tx = self.begin()
        committed = False
        try:
            txid = self._execute("SELECT pg_current_xact_id()::text", tx=tx)[0][0]["stringValue"]
            message = f"{self.sub}.{txid}.{int(time.time()) + TOKEN_SECONDS}"
            token = message + "." + hmac.new(self.key(), message.encode(), hashlib.sha256).hexdigest()
            self._execute(
                "SELECT set_config('app.tenant_token', :token, true)",
                [{"name": "token", "value": {"stringValue": token}}],
                tx=tx,
            )
            tenant = self._execute("SELECT api.current_tenant()", tx=tx)[0][0]
            rows = self._execute(sql, params, tx=tx)
            self.client.commit_transaction(resourceArn=self.cluster, secretArn=self.secret, transactionId=tx)
            committed = True
            return tenant.get("stringValue"), [[value(field) for field in row] for row in rows]
        finally:
            if not committed:
                try:
                    self.client.rollback_transaction(resourceArn=self.cluster, secretArn=self.secret, transactionId=tx)
                except Exception:  # the transaction may already be gone; the original error matters
                    pass


def value(field):
    if field.get("isNull"):
        return None
    for kind in ("stringValue", "longValue", "doubleValue", "booleanValue"):
        if kind in field:
            return field[kind]
    return str(field)


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
    db = Database(identity.subject(claims))
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
