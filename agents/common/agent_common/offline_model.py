"""The offline model: NOT a language model. It stands in for Bedrock on the local target and in
tests, where no model can be reached, and behaves deterministically:

- on the user's turn it calls one of the agent's real tools, the one the agent's router picks
  for the prompt, with the arguments the router gives (the prompt itself, a claim number seen in
  it...), exactly as an obedient model would, prompt injections included;
- once the tool has answered, it reports the tool's result verbatim, prefixed with
  `[offline model]` so nobody mistakes it for a model's answer.

Everything around the model (the tools, the identity handling, the runtime contract) is the
same code that runs with Bedrock on AWS.
"""
import json

from strands.models.model import Model

NAME = "offline"
PREFIX = "[offline model]"


class OfflineToolModel(Model):
    def __init__(self, router):
        """`router(prompt, tool_names) -> (tool_name, arguments)`."""
        self.router = router
        self.config = {"model_id": NAME}

    def update_config(self, **model_config):
        self.config.update(model_config)

    def get_config(self):
        return self.config

    def structured_output(self, output_model, prompt, system_prompt=None, **kwargs):
        raise NotImplementedError("the offline model has no structured output")

    async def stream(self, messages, tool_specs=None, system_prompt=None, **kwargs):
        last = messages[-1] if messages else {"content": []}
        results = [block["toolResult"] for block in last.get("content", []) if "toolResult" in block]
        yield {"messageStart": {"role": "assistant"}}
        if results:
            yield {"contentBlockStart": {"start": {}}}
            yield {"contentBlockDelta": {"delta": {"text": report(results)}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "end_turn"}}
        else:
            prompt = " ".join(block["text"] for block in last.get("content", []) if "text" in block)
            names = [spec["name"] for spec in tool_specs or []]
            name, arguments = self.router(prompt, names)
            if name not in names:
                raise ValueError(f"the router chose {name!r}, which is not one of the agent's tools {names}")
            turn = sum(1 for m in messages if m.get("role") == "assistant") + 1
            yield {"contentBlockStart": {"start": {"toolUse": {"toolUseId": f"offline-{turn}", "name": name}}}}
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(arguments)}}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
        yield {"metadata": {"usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}, "metrics": {"latencyMs": 0}}}


def report(results):
    lines = [PREFIX]
    for result in results:
        for block in result.get("content", []):
            if "text" in block:
                lines.append(block["text"])
            elif "json" in block:
                lines.append(json.dumps(block["json"], sort_keys=True))
    return "\n".join(lines)
