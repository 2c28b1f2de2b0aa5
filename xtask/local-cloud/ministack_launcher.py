"""Starts ministack with the project's bridges for gaps of the emulator, so that the provisioner's
AWS code stays exactly what runs against AWS. Each bridge names the gap it closes.
"""
import base64
import json
import sys
from urllib.parse import unquote

from ministack.core.responses import error_response_json, json_response
from ministack.services import bedrock_agent, bedrock_agentcore, cognito, rds


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


# Gap: ministack's AgentCore control plane ignores `tags` on CreateAgentRuntime and has no
# ListTagsForResource / TagResource / UntagResource (`/tags/{resourceArn}`), so a runtime could
# never prove it is ours. Tags are kept here per runtime ARN and dropped with the runtime.
_agentcore_handle = bedrock_agentcore.handle_request
_agentcore_tags = {}


async def _agentcore_handle_request(method, path, headers, body, query_params):
    inner = path.strip("/")
    if inner.startswith("tags/"):
        arn = unquote(inner[len("tags/"):])
        if not any(r["agentRuntimeArn"] == arn for r in bedrock_agentcore._runtimes.values()):
            return error_response_json("ResourceNotFoundException", f"no resource {arn}", 404)
        tags = _agentcore_tags.setdefault(arn, {})
        if method == "GET":
            return json_response({"tags": tags}, content_type="application/json")
        if method == "POST":
            tags.update(json.loads(body or b"{}").get("tags") or {})
            return 204, {}, b""
        if method == "DELETE":
            keys = query_params.get("tagKeys") or []
            for key in keys if isinstance(keys, list) else [keys]:
                tags.pop(key, None)
            return 204, {}, b""
    status, out_headers, out_body = await _agentcore_handle(method, path, headers, body, query_params)
    if method == "PUT" and inner == "runtimes" and status < 300:
        arn = json.loads(out_body)["agentRuntimeArn"]
        _agentcore_tags[arn] = dict(json.loads(body or b"{}").get("tags") or {})
    if method == "DELETE" and inner.startswith("runtimes/") and inner.count("/") == 1 and status < 300:
        live = {r["agentRuntimeArn"] for r in bedrock_agentcore._runtimes.values()}
        for arn in [a for a in _agentcore_tags if a not in live]:
            del _agentcore_tags[arn]
    return status, out_headers, out_body


bedrock_agentcore.handle_request = _agentcore_handle_request

# Gap: ministack lets a signed-in user write any attribute of their own with UpdateUserAttributes.
# AWS allows only the attributes in the app client's WriteAttributes ("the list of user
# attributes that you want your app client to have write access to", CreateUserPoolClient) and
# answers NotAuthorizedException otherwise. An app client without WriteAttributes is left as
# ministack has it (so that a stack that forgets to set them is not protected here either).
_update_user_attributes = cognito._update_user_attributes


def _update_user_attributes_checked(data):
    token = data.get("AccessToken", "")
    user, pool = cognito._user_pool_for_access_token(token)
    if user:
        try:
            payload = token.split(".")[1]
            client_id = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("client_id")
        except (IndexError, ValueError):
            client_id = None
        allowed = ((pool.get("_clients") or {}).get(client_id) or {}).get("WriteAttributes") or []
        names = [a.get("Name") for a in data.get("UserAttributes") or []]
        if allowed and any(n not in allowed for n in names):
            return error_response_json("NotAuthorizedException", "A client attempted to write unauthorized attribute", 400)
    return _update_user_attributes(data)


cognito._update_user_attributes = _update_user_attributes_checked

if __name__ == "__main__":
    from ministack.app import main

    sys.exit(main())
