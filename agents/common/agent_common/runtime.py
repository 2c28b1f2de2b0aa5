"""The AgentCore Runtime entry point shared by the agents: read the caller from the validated
token, build the agent for that caller, stream its answer. A refusal is an HTTP error with a
message, never an answer with someone else's data."""
import asyncio
import logging
import os
from typing import NamedTuple

from bedrock_agentcore.runtime import BedrockAgentCoreApp
from starlette.responses import JSONResponse

from . import identity
from .offline_model import NAME as OFFLINE, OfflineToolModel

log = logging.getLogger("agent")


def model(router):
    """The model named by the runtime's `MODEL_ID`: `offline` or a Bedrock model id."""
    model_id = os.environ.get("MODEL_ID", "")
    if not model_id:
        raise RuntimeError("MODEL_ID is not set: the stack sets it on the runtime")
    if model_id == OFFLINE:
        return OfflineToolModel(router)
    from strands.models.bedrock import BedrockModel

    return BedrockModel(model_id=model_id)


class Caller(NamedTuple):
    """What `build` gets besides the claims when the app is made `with_caller`: the verified
    bearer token (to call a gateway as the caller) and the runtime session id."""

    token: str
    session: str


def app(build, with_caller=False):
    """`build(claims) -> (Agent, sources)` makes the agent for one caller, its tools bound to
    that caller's tier or tenant; it may raise `identity.Refused`. With `with_caller`, it is
    `build(claims, Caller)` and may return a third item, `keep(prompt, answer)`, called once
    the answer is complete (tutorial 4 keeps the turn in its memory). The tools append to `sources`
    where their data came from (documents with their tier, the tenant the database verified):
    the answer ends with that list, written by code, not by the model, so that a caller (and
    `cargo xtask verify`) can check the provenance of any answer, whatever the model says."""
    runtime = BedrockAgentCoreApp()

    @runtime.entrypoint
    def invoke(payload, context):
        prompt = payload.get("prompt") if isinstance(payload, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            return JSONResponse({"error": "the payload needs a non-empty string 'prompt'"}, status_code=400)
        try:
            headers = request_headers(context)
            claims = identity.token_claims(headers)
            if with_caller:
                built = build(claims, Caller(identity.bearer(headers), context.session_id or ""))
            else:
                built = build(claims)
        except identity.Refused as refused:
            log.warning("refused: %s", refused)
            return JSONResponse({"error": str(refused)}, status_code=refused.status)
        agent, sources, keep = (*built, None) if len(built) == 2 else built
        return answer(agent, prompt, sources, keep)

    return runtime


def request_headers(context):
    """Every request header as sent, duplicates included. `context.request_headers` is a dict
    that keeps only the last `Authorization` header: two of them would pass unnoticed."""
    if context.request is not None:
        return context.request.headers.items()
    return list((context.request_headers or {}).items())


SOURCES = "Sources: "


async def answer(agent, prompt, sources, keep=None):
    said = []
    async for event in agent.stream_async(prompt):
        if "data" in event:
            said.append(event["data"])
            yield event["data"]
    yield "\n\n" + SOURCES + ("; ".join(dict.fromkeys(sources)) or "none")
    if keep is not None:
        try:
            # a blocking call: off the event loop, so that /ping and other callers go on
            await asyncio.to_thread(keep, prompt, "".join(said))
        except Exception as e:  # the answer stands; the turn is not remembered
            log.error("the turn was not kept in memory: %s", type(e).__name__)


def serve(runtime):
    """Port 8080 as on AgentCore Runtime; the local runtime host sets PORT to run several, and
    AGENT_BIND_HOST=127.0.0.1 so that an agent is never reachable from other hosts (the library
    binds 0.0.0.0 inside any container). Unset, the library decides, as AgentCore needs."""
    runtime.run(port=int(os.environ.get("PORT", "8080")), host=os.environ.get("AGENT_BIND_HOST") or None)
