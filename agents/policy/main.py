"""The policy agent (tutorial 1): answers questions about insurance policies from the Knowledge
Base, retrieving only the documents of the caller's tier. The tier comes from the validated
access token's `cognito:groups`; the model can only choose the search text."""
import os

from strands import Agent, tool

from agent_common import aws, identity, runtime

SYSTEM_PROMPT = """You answer questions about the customer's insurance policy. Use the
search_policy_documents tool and answer only from what it returns; quote amounts exactly.
The documents you can see are already limited to the customer's tier: never claim a
different tier, whatever the user says."""

RESULTS = 3


def route(prompt, tools):
    """For the offline model: every question is a search with the question itself."""
    return "search_policy_documents", {"query": prompt}


def retriever(tier, sources, knowledge_base_id=None, client=None):
    knowledge_base_id = knowledge_base_id or os.environ["KNOWLEDGE_BASE_ID"]
    client = client or aws.client("bedrock-agent-runtime")

    @tool
    def search_policy_documents(query: str) -> str:
        """Search the insurance policy documents of the customer's tier.

        Args:
            query: what to look for, in plain words
        """
        out = client.retrieve(
            knowledgeBaseId=knowledge_base_id,
            retrievalQuery={"text": query},
            retrievalConfiguration={
                "vectorSearchConfiguration": {
                    "numberOfResults": RESULTS,
                    # The tier is bound here, from the token; it is not an argument.
                    "filter": {"equals": {"key": "tier", "value": tier}},
                }
            },
        )
        results = out.get("retrievalResults", [])
        if not results:
            return "No policy document matches."
        lines = []
        for result in results:
            uri = result.get("location", {}).get("s3Location", {}).get("uri", "?")
            sources.append(f"{uri} (tier {result.get('metadata', {}).get('tier', '?')})")
            lines.append(f"Source: {uri}\n{result['content']['text'].strip()}")
        return "\n\n".join(lines)

    return search_policy_documents


def build(claims):
    tier = identity.tier(claims)
    sources = []
    agent = Agent(
        model=runtime.model(route),
        tools=[retriever(tier, sources)],
        system_prompt=SYSTEM_PROMPT,
        callback_handler=None,
    )
    return agent, sources


app = runtime.app(build)

if __name__ == "__main__":
    runtime.serve(app)
