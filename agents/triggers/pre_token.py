"""The user pool's pre token generation trigger (event version V2_0): puts the user's tenant,
`custom:tenant_id`, into the access token as `tenant_id`, where AgentCore Gateway's policy
engine reads it (a principal tag). Only an administrator can set the attribute (the app clients
may not write it), so the claim is the administrator's word, signed by Cognito. A user without a
tenant gets no claim, and the policies then allow nothing. ID tokens are left as they are."""


def handler(event, context):
    attributes = (event.get("request") or {}).get("userAttributes") or {}
    tenant = attributes.get("custom:tenant_id") or ""
    if tenant:
        event["response"] = {
            "claimsAndScopeOverrideDetails": {
                "accessTokenGeneration": {"claimsToAddOrOverride": {"tenant_id": tenant}}
            }
        }
    return event
