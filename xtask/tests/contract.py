"""Checks recorded SDK requests against the AWS service models (botocore's, pinned in the venv).

usage: contract.py REQUESTS.jsonl [POLICY.json]

Each line of REQUESTS.jsonl is one HTTP request the provisioner sent (XTASK_RECORD_REQUESTS).
The request is decoded back into the operation's parameters by the service's protocol (json,
query, ec2, rest-json, rest-xml), then every parameter is checked against the operation's
input shape: required members, unknown members, types, enums, lengths, ranges and patterns.
Prints one JSON object: operations seen, requests checked, violations (operation, field, rule,
value), and what could not be checked (patterns Python's `re` cannot compile). With POLICY.json
(`cargo xtask permissions`), also each operation whose IAM action the policy does not grant.
"""
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from urllib.parse import parse_qsl, unquote, urlsplit

import botocore.session

# The Rust SDK's service names -> botocore's.
SERVICES = {
    "cognitoidentityprovider": "cognito-idp",
    "secretsmanager": "secretsmanager",
    "s3": "s3",
    "ec2": "ec2",
    "rds": "rds",
    "rdsdata": "rds-data",
    "iam": "iam",
    "s3vectors": "s3vectors",
    "bedrockagent": "bedrock-agent",
    "bedrockagentruntime": "bedrock-agent-runtime",
    "resourcegroupstaggingapi": "resourcegroupstaggingapi",
    "bedrockagentcorecontrol": "bedrock-agentcore-control",
    "cloudwatchlogs": "logs",
    "lambda": "lambda",
    "sts": "sts",
}

# IAM action prefixes where they differ from the service's signing name, and operations whose
# IAM action has another name (Service Authorization Reference, "Actions, resources, and
# condition keys" for each service). None: no IAM permission is checked for it.
IAM_PREFIX = {"resourcegroupstaggingapi": "tag", "bedrock-agent-runtime": "bedrock"}
IAM_ACTION = {
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:HeadObject": "s3:GetObject",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:ListBuckets": "s3:ListAllMyBuckets",
    "s3:PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "sts:GetCallerIdentity": None,  # needs no permission
    "cognito-idp:InitiateAuth": None,  # a user's own sign-in, not IAM-authorized
    "cognito-idp:RespondToAuthChallenge": None,
    # The account's permissions boundary, made by the role kind on the local target only (on AWS
    # an administrator makes it once; the deploy policy denies iam:CreatePolicy).
    "iam:CreatePolicy": None,
}

session = botocore.session.get_session()
models = {}
violations = []
unchecked = Counter()


def model(service):
    if service not in models:
        models[service] = session.get_service_model(service)
    return models[service]


def key(service):
    return SERVICES.get(service.lower().replace("-", "").replace(" ", ""), service)


# --- decoding a request back into parameters -------------------------------------------------


def scalar(shape, text):
    t = shape.type_name
    if t in ("integer", "long"):
        return int(text)
    if t in ("float", "double"):
        return float(text)
    if t == "boolean":
        return text in ("true", True)
    return text


def unflatten(shape, prefix, flat, ec2):
    """Query and EC2 protocols: `A.member.1.B=x` back into nested parameters."""
    t = shape.type_name
    join = lambda a, b: f"{a}.{b}" if a else b
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            if ec2:
                wire = member.serialization.get("queryName") or (member.serialization.get("name") or name)[:1].upper() + (member.serialization.get("name") or name)[1:]
            else:
                wire = member.serialization.get("name", name)
            p = join(prefix, wire)
            if p in flat or any(k.startswith(p + ".") for k in flat):
                out[name] = unflatten(member, p, flat, ec2)
        return out
    if t == "list":
        if ec2 or shape.serialization.get("flattened"):
            base = prefix
        else:
            base = join(prefix, shape.member.serialization.get("name", "member"))
        indexes = sorted({int(k[len(base) + 1:].split(".")[0]) for k in flat if k.startswith(base + ".") and k[len(base) + 1:].split(".")[0].isdigit()})
        return [unflatten(shape.member, f"{base}.{i}", flat, ec2) for i in indexes]
    if t == "map":
        base = prefix if shape.serialization.get("flattened") else join(prefix, "entry")
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        indexes = sorted({int(k[len(base) + 1:].split(".")[0]) for k in flat if k.startswith(base + ".")})
        return {flat.get(f"{base}.{i}.{kname}"): unflatten(shape.value, f"{base}.{i}.{vname}", flat, ec2) for i in indexes}
    return scalar(shape, flat.get(prefix, ""))


def from_xml(shape, element):
    """rest-xml: an element back into parameters, guided by the shape."""
    t = shape.type_name
    local = lambda tag: tag.split("}")[-1]
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                items = [c for c in element if local(c.tag) == wire]
                if items:
                    out[name] = [from_xml(member.member, c) for c in items]
                continue
            child = next((c for c in element if local(c.tag) == wire), None)
            if child is not None:
                out[name] = from_xml(member, child)
        return out
    if t == "list":
        wire = shape.member.serialization.get("name", "member")
        return [from_xml(shape.member, c) for c in element if local(c.tag) == wire]
    return scalar(shape, element.text or "")


def match_uri(template, path):
    """Matches a requestUri template (`/a/{B}/c/{D+}`) to a path: the labels, or None."""
    template = template.split("?")[0]
    pattern = re.sub(r"\\{(\w+)\\\+\\}", r"(?P<\1>.+)", re.escape(template))
    pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", pattern)
    m = re.fullmatch(pattern.rstrip("/") + "/?", path)
    return {k: unquote(v) for k, v in m.groupdict().items()} if m else None


def rest_params(op, request, xml):
    shape = op.input_shape
    url = urlsplit(request["uri"])
    labels = match_uri(op.http["requestUri"], url.path) or {}
    query = dict(parse_qsl(url.query, keep_blank_values=True))
    headers = request.get("headers") or {}
    body = (request.get("body") or {}).get("text") or ""
    params = {}
    if shape is None:
        return params
    payload = shape.serialization.get("payload")
    for name, member in shape.members.items():
        where = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if where == "uri" and wire in labels:
            params[name] = scalar(member, labels[wire])
        elif where == "querystring" and wire in query:
            params[name] = scalar(member, query[wire]) if member.type_name != "list" else query[wire].split(",")
        elif where == "header" and wire.lower() in headers:
            params[name] = scalar(member, headers[wire.lower()])
        elif where == "headers":
            prefix = wire.lower()
            found = {k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix)}
            if found:
                params[name] = found
    if payload:
        member = shape.members[payload]
        if member.type_name in ("blob", "string"):
            if request.get("body"):
                params[payload] = body or "<bytes>"
        elif body.strip():
            params[payload] = from_xml(member, ET.fromstring(body)) if xml else json.loads(body)
    elif body.strip():
        if xml:
            params.update(from_xml(shape, ET.fromstring(body)))
        else:
            params.update(json.loads(body))
    return params


def operation_of(service_model, request):
    """The operation a request is, and its parameters."""
    protocol = service_model.metadata["protocol"]
    name = request.get("operation")
    op = service_model.operation_model(name) if name in service_model.operation_names else None
    if op is None:
        return None, None
    body = (request.get("body") or {}).get("text") or ""
    if protocol == "json":
        return op, json.loads(body) if body.strip() else {}
    if protocol in ("query", "ec2"):
        flat = dict(parse_qsl(body, keep_blank_values=True))
        flat.pop("Action", None)
        flat.pop("Version", None)
        return op, unflatten(op.input_shape, "", flat, protocol == "ec2") if op.input_shape else {}
    return op, rest_params(op, request, protocol == "rest-xml")


# --- checking parameters against the shape ---------------------------------------------------


# Errata of the models: patterns whose text is wrong in the model itself. bedrock-agent's
# TaggableResourcesArn says `/d{12}` where the account id (`\\d{12}`) is meant; as written no ARN
# of a real account would match, and AWS accepts them.
ERRATA = {":/d{12}:": r":\d{12}:"}


# Unicode categories (Java and ECMAScript regexes) that Python's `re` lacks, as classes that
# are exact for ASCII and generous beyond it (they go inside `[...]`).
CATEGORIES = {
    r"\p{L}": "a-zA-Z\u00c0-\uffff",
    r"\p{N}": "0-9",
    r"\p{Z}": " \u00a0\u2000-\u200a\u2028\u2029\u3000",
    r"\p{M}": "\u0300-\u036f",
    r"\p{S}": "$+<=>^`|~",
    r"\p{P}": "!-#%-*,-/:;?@\\[-\\]_{}",
}


def pattern_ok(pattern, value):
    for wrong, right in ERRATA.items():
        pattern = pattern.replace(wrong, right)
    for category, chars in CATEGORIES.items():
        pattern = pattern.replace(category, chars)
    try:
        # The whole value must match: the stricter reading (Smithy does not anchor patterns,
        # but a check that passes here passes the looser one too).
        return re.fullmatch(pattern, value, re.DOTALL) is not None
    except re.error:
        unchecked[pattern] += 1
        return True


def check(op, shape, value, path):
    bad = lambda rule: violations.append({"operation": op, "field": path or "(input)", "rule": rule, "value": value if not isinstance(value, (dict, list)) else None})
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        if not isinstance(value, dict):
            return bad("not a structure")
        for req in shape.required_members:
            if req not in value:
                violations.append({"operation": op, "field": f"{path}.{req}" if path else req, "rule": "required", "value": None})
        for k, v in value.items():
            if k not in shape.members:
                bad(f"unknown member `{k}`")
            elif v is not None:
                check(op, shape.members[k], v, f"{path}.{k}" if path else k)
    elif t == "list":
        if not isinstance(value, list):
            return bad("not a list")
        if "min" in meta and len(value) < meta["min"]:
            bad(f"at least {meta['min']} items")
        if "max" in meta and len(value) > meta["max"]:
            bad(f"at most {meta['max']} items")
        for i, v in enumerate(value):
            check(op, shape.member, v, f"{path}[{i}]")
    elif t == "map":
        if not isinstance(value, dict):
            return bad("not a map")
        for k, v in value.items():
            check(op, shape.key, k, f"{path}.<key>")
            check(op, shape.value, v, f"{path}.{k}")
    elif t == "string":
        if not isinstance(value, str):
            return bad("not a string")
        if shape.enum and value not in shape.enum:
            bad(f"one of {shape.enum}")
        if "min" in meta and len(value) < meta["min"]:
            bad(f"at least {meta['min']} characters")
        if "max" in meta and len(value) > meta["max"]:
            bad(f"at most {meta['max']} characters")
        if "pattern" in meta and not pattern_ok(meta["pattern"], value):
            bad(f"pattern {meta['pattern']}")
    elif t in ("integer", "long", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return bad(f"not a number ({t})")
        if "min" in meta and value < meta["min"]:
            bad(f"at least {meta['min']}")
        if "max" in meta and value > meta["max"]:
            bad(f"at most {meta['max']}")
    elif t == "boolean":
        if not isinstance(value, bool):
            bad("not a boolean")


def main():
    operations = Counter()
    requests = 0
    unknown = Counter()
    for line in open(sys.argv[1]):
        request = json.loads(line)
        service = key(request.get("service") or "")
        try:
            service_model = model(service)
        except Exception:
            unknown[f"{request.get('service')} (no model)"] += 1
            continue
        op, params = operation_of(service_model, request)
        if op is None:
            unknown[f"{service}.{request.get('operation')}"] += 1
            continue
        requests += 1
        operations[f"{service}:{op.name}"] += 1
        if op.input_shape is not None:
            check(op.name, op.input_shape, params, "")
    seen = set()
    unique = []
    for v in violations:
        k = json.dumps(v, sort_keys=True)
        if k not in seen:
            seen.add(k)
            unique.append(v)
    not_granted = []
    if len(sys.argv) > 2:
        granted = set()
        for statement in json.load(open(sys.argv[2]))["Statement"]:
            actions = statement.get("Action", [])
            granted.update([actions] if isinstance(actions, str) else actions)
        for name in sorted(operations):
            service, op = name.split(":")
            prefix = IAM_PREFIX.get(service) or model(service).metadata.get("signingName") or service
            action = IAM_ACTION.get(f"{prefix}:{op}", f"{prefix}:{op}")
            if action is not None and action not in granted and f"{prefix}:*" not in granted:
                not_granted.append(f"{action} ({name})")
    print(json.dumps({
        "requests": requests,
        "not_granted": not_granted,
        "operations": sorted(operations),
        "violations": unique,
        "not_decoded": dict(unknown),
        "patterns_not_checkable": sorted(unchecked),
    }, indent=1))


if __name__ == "__main__":
    main()
