"""AgentCore Policy's decision on a gateway tool call, made by the real Cedar engine (cedarpy).

The local gateway (tutorial 4) asks this module about every `tools/call`, in ENFORCE mode, with
the request shape AWS documents (xtask/docs/tutorial-4-facts.md, section 3):

- principal `AgentCore::OAuthUser::"<sub>"`, attribute `id`, and every claim of the verified JWT
  as a string tag (an array or object claim as its JSON text; a null claim is no tag);
- action `AgentCore::Action::"<target>___<tool>"`, in `AgentCore::Action::"CallTool"`;
- resource `AgentCore::Gateway::"<gateway ARN>"`;
- context `{"input": <the tool's arguments>}`, typed by the schema generated from the tools'
  input schemas with `cedar-policy-mcp-schema-generator` (the generator AWS's guide links to;
  AWS does not publish its own stub, so this one mirrors the documented shape).

ENFORCE: a call is allowed only when a permit applies and no forbid does. Whatever cannot be
evaluated is denied: an unknown tool, arguments the schema does not describe (an extra or
mistyped field, a duplicated key), a token without `sub`. A policy that errors (reading a tag
the token does not carry) does not apply, as Cedar defines it: a permit that errors permits
nothing, and a forbid that errors forbids nothing, so forbids must be written so that they
cannot error (guard with `has`/`hasTag`); the errors are returned in `errors` either way.
Every answer says why, and that the policy engine said it.
"""

import json
import re

import cedarpy
from cedar_mcp_schema_generator import generate_schema

# The documented entity shape: tags are the JWT's claims.
STUB = """
namespace AgentCore {
  @mcp_principal("OAuthUser")
  entity OAuthUser = { id: String } tags String;
  @mcp_resource("Gateway")
  entity Gateway;
  @mcp_action("CallTool")
  action "CallTool";
}
"""

# AWS's words for a denial, as the caller sees them (a tool result with isError, not a JSON-RPC
# error): devguide "use-gateway-with-policy", "Policy responses".
DENIED = "AuthorizeActionException - Tool Execution Denied: Tool call not allowed due to policy enforcement"


class Refused(Exception):
    """A call that cannot be evaluated: denied, with the reason."""


def tool_actions(target, tools):
    """The MCP tool list as the gateway exposes it: each tool named `<target>___<tool>`."""
    return [dict(t, name=f"{target}___{t['name']}") for t in tools]


def schema(target, tools):
    """The Cedar schema (JSON text) of `target`'s tools."""
    return schema_of_tools(tool_actions(target, tools))


def schema_of_tools(tools):
    """The Cedar schema (JSON text) of a gateway's tools, named `<target>___<tool>`."""
    out = generate_schema(STUB, tools)
    if not out.get("isOk"):
        raise ValueError(f"the tools' Cedar schema cannot be generated: {out.get('error')}")
    return out["schemaJson"]


def validate(policies, schema_json, named=True):
    """The policies' validation errors against the schema (strict), and AWS's own rules: a policy
    that constrains no resource is refused (devguide "example-policies-principal"), and every
    policy carries an `@id` (its name in AgentCore Policy). Empty when they are valid."""
    result = cedarpy.validate_policies(policies, schema_json)
    errors = [] if result.validation_passed else [str(e) for e in result.errors]
    return errors + rules(policies, named)


def rules(policies, named=True):
    """AWS's own rules for policy text, without a schema: it parses, holds static policies,
    each with a resource constraint; `named`: each with an `@id` too (this repository's rule
    for its `.cedar` files, whose policies are created under those names; not AWS's)."""
    errors = []
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(policies))
    except Exception as e:  # noqa: BLE001 (cedarpy raises its own parse errors)
        return errors + [f"the policies do not parse: {e}"]
    if parsed.get("templates"):
        errors.append("templates are not policies AgentCore Policy takes: write static policies")
    for number, p in parsed.get("staticPolicies", {}).items():
        name = (p.get("annotations") or {}).get("id")
        if named and not name:
            errors.append(f"{number}: no @id(\"...\"): AgentCore Policy names every policy")
        if (p.get("resource") or {}).get("op") == "All":
            errors.append(f"{name or number}: constrains no resource (AgentCore Policy refuses it): name the gateway")
    return errors


def split(text):
    """A `.cedar` file's policies as (`@id`, statement) pairs, in order: each policy starts at
    its `@id("...")` annotation (the file's rule), for CreatePolicy, which takes one each."""
    starts = [(m.start(), m.group(1)) for m in re.finditer(r'^@id\("([^"]+)"\)', text, re.M)]
    out = []
    for i, (at, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        out.append((name, text[at:end].strip()))
    return out


def policy_names(policies):
    """Each policy's `@id` (AWS names policies; Cedar numbers them `policy0`, `policy1`...)."""
    parsed = json.loads(cedarpy.policies_to_json_str(policies))
    return {
        number: (p.get("annotations") or {}).get("id", number)
        for number, p in parsed.get("staticPolicies", {}).items()
    }


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise Refused(f"the arguments name `{key}` twice")
        seen[key] = value
    return seen


def arguments(raw):
    """A `tools/call`'s arguments from its JSON text: an object, no key twice (a duplicated key
    would let the policy and the tool read different values)."""
    try:
        value = json.loads(raw, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise Refused(f"the arguments are not JSON: {e}") from None
    if not isinstance(value, dict):
        raise Refused("the arguments are not an object")
    return value


def principal(claims):
    """The caller as an entity: `sub` its id, every claim a string tag."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Refused("the token has no `sub`")
    tags = {}
    for name, value in claims.items():
        if value is None:
            continue
        tags[name] = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return {"uid": {"type": "AgentCore::OAuthUser", "id": sub}, "attrs": {"id": sub}, "parents": [], "tags": tags}


def decide(policies, schema_json, claims, gateway_arn, tool, args):
    """ENFORCE's answer to `tool` (`<target>___<tool>`) called with `args` by the holder of the
    verified `claims`: `{"allowed", "reason", "policies", "source": "policy-engine"}`."""
    def denied(why, ids=()):
        return {"allowed": False, "reason": f"{DENIED} [{why}]", "policies": list(ids), "source": "policy-engine"}

    try:
        who = principal(claims)
    except Refused as e:
        return denied(str(e))
    if not isinstance(args, dict):
        return denied("the arguments are not an object")
    gateway = {"uid": {"type": "AgentCore::Gateway", "id": gateway_arn}, "attrs": {}, "parents": []}
    request = {
        "principal": {"type": "AgentCore::OAuthUser", "id": who["uid"]["id"]},
        "action": {"type": "AgentCore::Action", "id": tool},
        "resource": {"type": "AgentCore::Gateway", "id": gateway_arn},
        "context": {"input": args},
    }
    result = cedarpy.is_authorized(request, policies, [who, gateway], schema=schema_json)
    errors = [str(e) for e in (result.diagnostics.errors or [])]
    names = policy_names(policies)
    reasons = [names.get(r, r) for r in (result.diagnostics.reasons or [])]
    if result.allowed:
        return {"allowed": True, "reason": "permitted", "policies": reasons, "source": "policy-engine", "errors": errors}
    if reasons:
        return denied(f"Policy evaluation denied due to {', '.join(reasons)}", reasons)
    if errors:
        # An unknown tool, arguments outside the schema, or a policy that errored.
        return denied(f"The request could not be evaluated: {errors[0][:300]}")
    return denied("No policy applies to the request (denied by default).")
