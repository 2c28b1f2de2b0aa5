"""The tools agent (tutorial 4): answers a broker from the claims tools behind AgentCore
Gateway, and remembers the conversation in AgentCore Memory.

It holds no database access and no secret. Every tool call goes to the gateway with the
caller's own access token, so the gateway's authorizer and its policy engine (ENFORCE) decide
it; the `tenant_id` argument is always the `tenant_id` claim of the token this agent verified,
never a value the model chose. What the policies refuse comes back as the policy engine's words.

Memory: each turn is kept as events under the actor `<tenant>:<sub>` of the verified token and
a session derived from the runtime session; `recall` reads that actor's events only. Another
user who sends the same session id reaches another actor, hence nothing."""
import datetime
import hashlib
import json
import os
import re
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from strands import Agent, tool

from agent_common import identity, runtime

SYSTEM_PROMPT = """You help an insurance broker with their claims through the claims tools.
Answer only from what the tools return; quote claim numbers and amounts exactly. You act for
the signed-in broker only: never claim to act for another broker or tenant."""

CLAIM_NUMBER = re.compile(r"\bCLM-[A-Za-z0-9]+-\d+\b", re.IGNORECASE)
AMOUNT = re.compile(r"\b(\d[\d,]*)\s*(?:usd|dollars|\$)|\$\s*(\d[\d,]*)|\b(\d[\d,]{2,})\b", re.IGNORECASE)
HOLDER = re.compile(r"\bfor ([A-Z][A-Za-z'-]*(?: [A-Z][A-Za-z'-]*)*)")
TENANT = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")
SUB = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
RECALL = ("what did i ask", "earlier", "recall", "remember", "before?")


def route(prompt, tools):
    """For the offline model: pick the tool the prompt asks for."""
    text = prompt.lower()
    if any(word in text for word in RECALL):
        return "recall", {}
    if "file" in text:
        amount = AMOUNT.search(prompt)
        value = next((g for g in amount.groups() if g), "0") if amount else "0"
        holder = HOLDER.search(prompt)
        return "file_claim", {
            "policy_holder": holder.group(1) if holder else "Unnamed",
            "claim_type": "home" if "home" in text else "auto",
            "amount_usd": int(value.replace(",", "")),
        }
    number = CLAIM_NUMBER.search(prompt)
    if number:
        return "get_claim", {"claim_id": number.group(0).upper()}
    return "list_my_claims", {}


def gateway_url(environ=os.environ):
    """The gateway's MCP URL. On the local cloud the runtime host serves the gateways itself and
    says where (`AGENTCORE_GATEWAY_ENDPOINT`, set by the host, never by a stack)."""
    url = environ["GATEWAY_URL"]
    local = environ.get("AGENTCORE_GATEWAY_ENDPOINT")
    found = re.match(r"^https://([a-z0-9-]+)\.gateway\.bedrock-agentcore\.[a-z0-9-]+\.amazonaws\.com/mcp$", url)
    if local and found:
        return f"{local.rstrip('/')}/gateways/{found.group(1)}/mcp"
    return url


class _Refuse(urllib.request.HTTPRedirectHandler):
    """The caller's token goes to the gateway's URL and nowhere else: no redirect is followed."""

    def redirect_request(self, *args, **kwargs):
        return None


NO_REDIRECTS = urllib.request.build_opener(_Refuse)


class Gateway:
    def __init__(self, url, token, target):
        self.url, self.token, self.target = url, token, target

    def call(self, name, arguments):
        """(text, refused) of one tool call, as the caller."""
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": f"{self.target}___{name}", "arguments": arguments}}
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST", headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {self.token}",
        })
        try:
            with NO_REDIRECTS.open(request, timeout=60) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as e:
            return f"the gateway refused the call ({e.code})", True
        if "error" in reply:
            return str(reply["error"].get("message", "the gateway refused the call")), True
        result = reply.get("result") or {}
        text = "\n".join(c.get("text", "") for c in result.get("content", []) if c.get("type") == "text")
        return text, bool(result.get("isError"))


class Memory:
    """The caller's events in the memory: one actor per tenant and user."""

    def __init__(self, memory_id, tenant, sub, runtime_session):
        self.client = boto3.client(
            "bedrock-agentcore",
            region_name=os.environ.get("AWS_REGION") or None,
            config=Config(connect_timeout=5, read_timeout=15, retries={"mode": "standard", "max_attempts": 3}),
        )
        self.memory_id = memory_id
        # `<tenant>:<sub>`: the colon separates actor id segments, and neither a tenant
        # ([a-z0-9-]) nor a Cognito sub (a UUID) holds one, so no two callers share an actor.
        self.actor = f"{tenant}:{sub}"
        # Memory session ids are [a-zA-Z0-9][a-zA-Z0-9-_]*; runtime session ids are any text.
        self.session = "s" + hashlib.sha256((runtime_session or "none").encode()).hexdigest()[:40]

    def earlier(self):
        events = self.client.list_events(
            memoryId=self.memory_id, actorId=self.actor, sessionId=self.session,
            includePayloads=True, maxResults=20,
        ).get("events", [])
        said = []
        for event in sorted(events, key=lambda e: str(e.get("eventTimestamp"))):
            for item in event.get("payload", []):
                turn = item.get("conversational") or {}
                if turn.get("role") == "USER":
                    said.append(turn.get("content", {}).get("text", ""))
        return said

    def keep(self, prompt, answer):
        self.client.create_event(
            memoryId=self.memory_id, actorId=self.actor, sessionId=self.session,
            eventTimestamp=datetime.datetime.now(datetime.timezone.utc),
            # AWS refuses empty text (1 character at least)
            payload=[
                {"conversational": {"content": {"text": text[:limit]}, "role": role}}
                for text, role, limit in ((prompt, "USER", 2000), (answer, "ASSISTANT", 8000))
                if text.strip()
            ],
        )


def money(amount):
    return f"${float(amount):,.2f}"


def line(c):
    return f"{c['claim_number']} | {c['customer_name']} | {c['policy_type']} | {money(c['claim_amount'])} | {c['status']} | filed {c['filed_at']}"


def tools_for(gateway, memory, tenant, sources):
    # What the tools returned in this turn is data, and may carry instructions (a claim's
    # description is any broker's text): after it, nothing is written. A claim is filed only
    # as the first tool call of a turn, so that text read in the turn (another broker's
    # description, this broker's recalled words) can never be filed into a claim.
    used = []

    def ask(name, arguments):
        used.append(name)
        sources.append(f"claims tools through AgentCore Gateway, tenant {tenant}")
        # The tenant is the verified token's, whatever the model put in the arguments.
        text, refused = gateway.call(name, {**arguments, "tenant_id": tenant})
        if refused:
            return None, f"Tenant: {tenant}\nRefused: {text}"
        try:
            answer = json.loads(text)
        except ValueError:
            return None, f"Tenant: {tenant}\nThe tool answered: {text}"
        if answer.get("error"):
            return None, f"Tenant: {tenant}\n{answer['error']}"
        return answer, f"Tenant: {answer.get('tenant', tenant)}"

    @tool
    def list_my_claims() -> str:
        """List the broker's claims."""
        answer, head = ask("list_my_claims", {})
        if answer is None:
            return head
        return "\n".join([head] + [line(c) for c in answer.get("claims", [])] + ([] if answer.get("claims") else ["No claims."]))

    @tool
    def get_claim(claim_id: str) -> str:
        """Show one of the broker's claims.

        Args:
            claim_id: the claim number, like CLM-A-001
        """
        answer, head = ask("get_claim", {"claim_id": claim_id})
        if answer is None:
            return head
        c = answer.get("claim")
        if not isinstance(c, dict):
            return f"{head}\nThe tool answered no claim."
        return f"{head}\n{line(c)}\n{c.get('description') or ''}".rstrip()

    @tool
    def file_claim(policy_holder: str, claim_type: str, amount_usd: int, description: str = "") -> str:
        """File a new claim for the broker's tenant. Above 10,000 USD only a senior broker may.

        Args:
            policy_holder: the customer's name
            claim_type: auto, home, life or travel
            amount_usd: whole US dollars
            description: what happened
        """
        if used:
            used.append("file_claim")
            return f"Tenant: {tenant}\nRefused: a claim is filed in a turn of its own, before anything is read; ask again to file it."
        arguments = {"policy_holder": policy_holder, "claim_type": claim_type, "amount_usd": amount_usd}
        if description:
            arguments["description"] = description
        answer, head = ask("file_claim", arguments)
        if answer is None:
            return head
        if not isinstance(answer.get("filed"), dict):
            return f"{head}\nThe tool filed nothing."
        return f"{head}\nFiled: {line(answer['filed'])}"

    @tool
    def recall() -> str:
        """What the broker asked earlier in this conversation."""
        used.append("recall")
        said = memory.earlier()
        sources.append(f"memory, tenant {tenant}")
        if not said:
            return f"Tenant: {tenant}\nNothing earlier in this conversation."
        return "\n".join([f"Tenant: {tenant}", "Earlier you asked:"] + [f"- {s}" for s in said])

    return [list_my_claims, get_claim, file_claim, recall]


def tenant_of(claims):
    tenant = claims.get("tenant_id")
    if not isinstance(tenant, str) or not TENANT.fullmatch(tenant):
        raise identity.Refused("the access token carries no tenant_id: is tutorial 2's pre token trigger deployed?")
    return tenant


def build(claims, caller):
    tenant = tenant_of(claims)
    sub = identity.subject(claims)
    if not isinstance(sub, str) or not SUB.fullmatch(sub):
        raise identity.Refused("the access token's sub is not a Cognito user id")
    memory = Memory(os.environ["MEMORY_ID"], tenant, sub, caller.session)
    gateway = Gateway(gateway_url(), caller.token, os.environ.get("TOOLS_TARGET", "ClaimsTools"))
    sources = []
    agent = Agent(
        model=runtime.model(route),
        tools=tools_for(gateway, memory, tenant, sources),
        system_prompt=SYSTEM_PROMPT,
        callback_handler=None,
    )
    return agent, sources, memory.keep


app = runtime.app(build, with_caller=True)

if __name__ == "__main__":
    runtime.serve(app)
