"""The offline model: NOT a language model. It stands in for Bedrock on the local target and in
tests, where no model can be reached, and behaves deterministically:

- on the user's turn it calls one of the agent's real tools, the one the agent's router picks
  for the prompt, with the arguments the router gives (the prompt itself, a claim number seen in
  it...), exactly as an obedient model would, prompt injections included;
- once the tool has answered, it reports the tool's result, prefixed with `[offline model]` so
  nobody mistakes it for a model's answer: verbatim, except that retrieved passages (`Source:
  <uri>` blocks) are answered as a model would, with the sentence of them that shares most
  words with the question and its source, still only from what retrieval returned.

Everything around the model (the tools, the identity handling, the runtime contract) is the
same code that runs with Bedrock on AWS.
"""
import json
import re

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
            question = next((block["text"] for m in messages if m.get("role") == "user" for block in m.get("content", []) if "text" in block), "")
            yield {"contentBlockStart": {"start": {}}}
            yield {"contentBlockDelta": {"delta": {"text": report(results, question)}}}
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


def report(results, question=""):
    lines = [PREFIX]
    for result in results:
        for block in result.get("content", []):
            if "text" in block:
                lines.append(answer(block["text"], question))
            elif "json" in block:
                lines.append(json.dumps(block["json"], sort_keys=True))
    return "\n".join(lines)


WORD = re.compile(r"[a-z0-9$][a-z0-9$,.]*[a-z0-9]|[a-z0-9]", re.I)
# Words that say nothing about what is asked.
STOP = {"a", "an", "the", "is", "are", "what", "which", "for", "of", "to", "in", "on", "my", "me", "i", "do", "does", "how", "much", "and", "or", "with", "under", "per", "it", "this", "that", "be", "can", "tell", "about"}


def words(text):
    return {w.lower().rstrip(".,") for w in WORD.findall(text)} - STOP


def answer(text, question):
    """Retrieved passages (`Source: <uri>` blocks) answered with their one sentence that shares
    most words with the question, and its source; any other tool result as it is."""
    blocks = [b for b in re.split(r"\n\s*\n(?=Source: )", text.strip()) if b.startswith("Source: ")]
    if not blocks or not question:
        return text
    asked = words(question)
    best = None
    for order, block in enumerate(blocks):
        source, _, body = block.partition("\n")
        # Sentences of the passage's prose (headings and list items stand alone).
        for sentence in re.split(r"(?<=[.!?])\s+|\n(?=[-#*])|\n\n", body):
            sentence = " ".join(sentence.replace("#", " ").split()).strip("- ")
            if not sentence:
                continue
            score = len(asked & words(sentence))
            if best is None or score > best[0]:
                best = (score, order, source, sentence)
    if best is None or best[0] == 0:
        return text
    return f"{best[2]}\n{best[3]}"
