"""Starts ministack with the project's bridges for gaps of the emulator, so that the provisioner's
AWS code stays exactly what runs against AWS. Each bridge names the gap it closes.
"""
import sys

from ministack.services import bedrock_agent, rds


# Gap: ministack drops ServerlessV2ScalingConfiguration.SecondsUntilAutoPause (AWS stores and
# reports it for clusters that may pause, min capacity 0), so a converged cluster would look
# changed on every plan.
_from_params = rds._serverlessv2_from_params
_to_xml = rds._serverlessv2_xml


def _serverlessv2_from_params(p):
    out = _from_params(p)
    raw = rds._p(p, "ServerlessV2ScalingConfiguration.SecondsUntilAutoPause")
    if out is not None and raw not in (None, ""):
        out["SecondsUntilAutoPause"] = int(raw)
    return out


def _serverlessv2_xml(c):
    xml = _to_xml(c)
    pause = (c.get("ServerlessV2ScalingConfiguration") or {}).get("SecondsUntilAutoPause")
    if xml and pause is not None:
        xml = xml.replace(
            "</ServerlessV2ScalingConfiguration>",
            f"<SecondsUntilAutoPause>{pause}</SecondsUntilAutoPause></ServerlessV2ScalingConfiguration>",
        )
    return xml


rds._serverlessv2_from_params = _serverlessv2_from_params
rds._serverlessv2_xml = _serverlessv2_xml


# Gap: the SDKs send CreateKnowledgeBase and ListKnowledgeBases to `/knowledgebases` (no
# trailing slash); ministack routes only `/knowledgebases/` and answers "No route".
_bedrock_agent_handle = bedrock_agent.handle_request


async def _bedrock_agent_handle_request(method, path, headers, body, query_params):
    if path == "/knowledgebases":
        path = "/knowledgebases/"
    return await _bedrock_agent_handle(method, path, headers, body, query_params)


bedrock_agent.handle_request = _bedrock_agent_handle_request

if __name__ == "__main__":
    from ministack.app import main

    sys.exit(main())
