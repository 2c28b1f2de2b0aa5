"""Starts ministack with the project's bridges for gaps of the emulator, so that the provisioner's
AWS code stays exactly what runs against AWS. Each bridge names the gap it closes.
"""
import base64
import contextvars
import hashlib
import json
import os
import re
import sys
import threading
import time
from urllib.parse import unquote

# Gap: ministack writes its token-signing keys (STATE_DIR/cognito-rsa-key.pem and
# STATE_DIR/cognito-pool-keys/<pool>-{access,id}.pem) with open() and makedirs() under the
# process's umask, 0644 and 0755 with the usual 022: any user of the machine could read them and
# mint any user's tokens. Everything this process writes is its own user's alone (0600, 0700),
# and so is STATE_DIR itself. Set before ministack is imported: its Cognito module writes the
# shared key at import.
os.umask(0o077)
if os.environ.get("STATE_DIR"):
    os.makedirs(os.environ["STATE_DIR"], exist_ok=True)
    os.chmod(os.environ["STATE_DIR"], 0o700)

# Written beside this script by `cargo xtask local up`, before ministack starts.
import agentcore_control  # noqa: E402
import local_common  # noqa: E402
from ministack.core.responses import error_response_json, json_response  # noqa: E402
from ministack.core.responses import get_account_id, get_region  # noqa: E402
from ministack.core import lambda_runtime  # noqa: E402
from ministack.services import bedrock, bedrock_agent, bedrock_agentcore, cognito, ec2, lambda_svc, rds, s3  # noqa: E402


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
#
# Gap: ministack accepts what AWS refuses and skips a state AWS goes through:
# - S3VectorsConfiguration takes `indexArn`, or `indexName` with `vectorBucketArn`: `indexArn`
#   conflicts with the other two (documented so by the AWS provider for Terraform, which found the
#   rule against the live API; the API reference marks all three optional).
# - A Knowledge Base is CREATING before it is ACTIVE (KnowledgeBaseStatus); here for
#   KB_CREATING_SECONDS (default 1). A data source is refused on one not yet ACTIVE
#   (ConflictException, an error CreateDataSource lists; AWS's exact answer is not confirmed).
# - UpdateDataSource: "You can't change the chunkingConfiguration after you create the data
#   source connector. Specify the existing chunkingConfiguration." (API reference): one left out
#   or changed is a ValidationException.
_bedrock_agent_handle = bedrock_agent.handle_request
# Every state transition below takes LOCAL_CLOUD_DELAY_SECONDS (default 1; 0 turns them off,
# for measuring); KB_CREATING_SECONDS and RDS_DELETING_SECONDS override it for one transition.
_DELAY = float(os.environ.get("LOCAL_CLOUD_DELAY_SECONDS") or 1)
agentcore_control.configure(_DELAY)
_KB_CREATING_SECONDS = float(os.environ.get("KB_CREATING_SECONDS") or _DELAY)


_later = local_common.later
_settle = local_common.settle
_DS_PATH = re.compile(r"^/knowledgebases/([^/]+)/datasources/([^/]*)$")


def _kb_refusal(method, path, body):
    """The error AWS would answer instead of ministack's success, or None."""
    request = json.loads(body or b"{}") if method == "PUT" else {}
    if method == "PUT" and path == "/knowledgebases/":
        s3v = (request.get("storageConfiguration") or {}).get("s3VectorsConfiguration") or {}
        if s3v.get("indexArn") and (s3v.get("indexName") or s3v.get("vectorBucketArn")):
            return bedrock_agent._validation(
                "s3VectorsConfiguration: specify either indexArn, or indexName and vectorBucketArn, not both"
            )
    m = _DS_PATH.match(path)
    if method == "PUT" and m and not m.group(2):
        kb = bedrock_agent._knowledge_bases.get(unquote(m.group(1)))
        if kb is not None and kb.get("Status") != "ACTIVE":
            return bedrock_agent._error(
                "ConflictException", f"Knowledge base {m.group(1)} is {kb.get('Status')}, not ACTIVE.", 409
            )
    if method == "PUT" and m and m.group(2):
        ds = bedrock_agent._data_sources.get(f"{unquote(m.group(1))}/{unquote(m.group(2))}")
        stored = ((ds or {}).get("VectorIngestionConfiguration") or {}).get("chunkingConfiguration")
        sent = (request.get("vectorIngestionConfiguration") or {}).get("chunkingConfiguration")
        if ds is not None and stored != sent:
            return bedrock_agent._validation(
                "The chunkingConfiguration of a data source cannot be changed; specify the existing one."
            )
    return None


# Gap: ministack ignores `clientToken`. On AWS, "if this token matches a previous request,
# Amazon Bedrock ignores the request, but does not return an error" (CreateKnowledgeBase,
# CreateDataSource, StartIngestionJob): the original answer comes back, even for what was deleted
# or failed since. Here each create's token is remembered for the life of the local cloud.
_answered = {}
_CREATES = (
    re.compile(r"^/knowledgebases/$"),
    re.compile(r"^/knowledgebases/[^/]+/datasources/?$"),
    re.compile(r"^/knowledgebases/[^/]+/datasources/[^/]+/ingestionjobs/?$"),
    re.compile(r"^/?runtimes/?$"),
)


async def _idempotent(service, method, path, body, call):
    token = None
    if method == "PUT" and any(r.match(path) for r in _CREATES):
        token = json.loads(body or b"{}").get("clientToken")
    key = (service, path.strip("/"), token)
    if token and key in _answered:
        return _answered[key]
    out = await call()
    if token and out[0] < 300:
        _answered[key] = out
    return out


async def _bedrock_agent_handle_request(method, path, headers, body, query_params):
    if path == "/knowledgebases":
        path = "/knowledgebases/"
    refused = _kb_refusal(method, path, body)
    if refused is not None:
        return refused

    async def call():
        out = await _bedrock_agent_call(method, path, headers, body, query_params)
        return _walk_ingestion_job(method, path, out)

    return await _idempotent("bedrock-agent", method, path, body, call)


def _walk_ingestion_job(method, path, out):
    """An ingestion job goes STARTING -> IN_PROGRESS -> COMPLETE (or FAILED) (IngestionJob,
    Amazon Bedrock API reference); ministack finishes it within the start call. The job walks
    from its start, and StartIngestionJob answers it as it is then: STARTING. A repeated client
    token gets this same answer back (`_idempotent`), and the job walks no second time."""
    m = re.match(r"^/knowledgebases/([^/]+)/datasources/([^/]+)/ingestionjobs/?$", path)
    if method != "PUT" or not m or out[0] >= 300:
        return out
    answer = json.loads(out[2])
    job = answer["ingestionJob"]
    rec = bedrock_agent._ingestion_jobs.get(f"{unquote(m.group(1))}/{unquote(m.group(2))}/{job['ingestionJobId']}")
    if rec is None or rec.get("Status") not in ("COMPLETE", "FAILED"):
        return out
    _settle(rec, "Status", [("STARTING", _DELAY / 2), ("IN_PROGRESS", _DELAY / 2), (rec["Status"], 0)])
    job["status"] = rec["Status"]
    return (out[0], out[1], json.dumps(answer).encode())


async def _bedrock_agent_call(method, path, headers, body, query_params):
    out = await _bedrock_agent_handle(method, path, headers, body, query_params)
    if method == "PUT" and path == "/knowledgebases/" and out[0] < 300:
        kb = bedrock_agent._knowledge_bases.get(json.loads(out[2])["knowledgeBase"]["knowledgeBaseId"])
        if kb is not None:
            kb["Status"] = "CREATING"

            def active():
                if kb.get("Status") == "CREATING":
                    kb["Status"] = "ACTIVE"

            _later(_KB_CREATING_SECONDS, active)
            out = bedrock_agent._json({"KnowledgeBase": kb}, status=out[0])
    return out


bedrock_agent.handle_request = _bedrock_agent_handle_request


# Gap: ministack lists every geography's cross-region inference profiles (us., eu., apac.) in every
# region. On AWS a region lists the system-defined profiles it can call: its own geography's and
# the global ones ("Supported Regions and models for inference profiles", Amazon Bedrock User
# Guide: each profile names its source Regions; US ones are called from us-* Regions, EU ones
# from eu-*, APAC ones from ap-*). Here: us-gov-* -> us-gov., us-* -> us., eu-* -> eu., ap-* ->
# apac., plus global.; other Regions get only global. (The page's per-model tables add jp., au.
# and ca. profiles for some models; not modelled.)
_bedrock_handle = bedrock.handle_request


def _geography(region):
    for prefix, geo in (("us-gov-", "us-gov"), ("us-", "us"), ("eu-", "eu"), ("ap-", "apac")):
        if region.startswith(prefix):
            return geo
    return None


async def _bedrock_handle_request(method, path, headers, body, query_params):
    out = await _bedrock_handle(method, path, headers, body, query_params)
    if method == "GET" and path.rstrip("/") == "/inference-profiles" and out[0] < 300:
        listed = json.loads(out[2])
        system = [p for p in listed.get("inferenceProfileSummaries", []) if p.get("type") == "SYSTEM_DEFINED"]
        others = [p for p in listed.get("inferenceProfileSummaries", []) if p.get("type") != "SYSTEM_DEFINED"]
        geo = _geography(get_region())
        models = {}
        for p in system:
            models.setdefault(p["inferenceProfileId"].split(".", 1)[1], p)
        kept = []
        for model, p in models.items():
            for prefix in ([geo] if geo else []) + ["global"]:
                kept.append(dict(p, inferenceProfileId=f"{prefix}.{model}",
                                 inferenceProfileArn=p["inferenceProfileArn"].replace(p["inferenceProfileId"], f"{prefix}.{model}"),
                                 inferenceProfileName=f"{prefix.upper()} {p['inferenceProfileName'].split(' ', 1)[1]}"))
        listed["inferenceProfileSummaries"] = kept + others
        return out[0], out[1], json.dumps(listed).encode()
    return out


bedrock.handle_request = _bedrock_handle_request


# Gap: ministack's AgentCore control plane ignores `tags` on CreateAgentRuntime and has no
# ListTagsForResource / TagResource / UntagResource (`/tags/{resourceArn}`), so a runtime could
# never prove it is ours. Tags are kept here per runtime ARN and dropped with the runtime; a
# memory's are those ministack kept from its CreateMemory, dropped with it.
_agentcore_handle = bedrock_agentcore.handle_request
_agentcore_tags = {}


async def _agentcore_handle_request(method, path, headers, body, query_params):
    # Gap: ministack has no AgentCore Gateway or Policy ("Unsupported AgentCore path"): served
    # by agentcore_control.py, as the service model and the developer guide describe them.
    answer = agentcore_control.handle(method, path, headers, body, query_params)
    if answer is not None:
        return answer
    inner = path.strip("/")
    with agentcore_control._lock:
        held = agentcore_control.tags.get(unquote(inner[len("tags/"):])) if inner.startswith("tags/") else None
        if held is not None and method == "GET":
            return json_response({"tags": dict(held)}, content_type="application/json")
        if held is not None and method == "POST":
            held.update(json.loads(body or b"{}").get("tags") or {})
            return 204, {}, b""
        if held is not None and method == "DELETE":
            keys = query_params.get("tagKeys") or []
            for key in keys if isinstance(keys, list) else [keys]:
                held.pop(key, None)
            return 204, {}, b""
    if inner.startswith("tags/"):
        arn = unquote(inner[len("tags/"):])
        # A memory keeps the tags of its CreateMemory (`_tags`) but has no tag API either.
        memory = next((m for m in bedrock_agentcore._memories.values() if m.get("arn") == arn), None)
        if memory is not None:
            tags = memory.setdefault("_tags", {})
            if method == "GET":
                return json_response({"tags": dict(tags)}, content_type="application/json")
            if method == "POST":
                tags.update(json.loads(body or b"{}").get("tags") or {})
                return 204, {}, b""
            if method == "DELETE":
                keys = query_params.get("tagKeys") or []
                for key in keys if isinstance(keys, list) else [keys]:
                    tags.pop(key, None)
                return 204, {}, b""
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
    runtime_id = inner[len("runtimes/"):] if inner.startswith("runtimes/") and inner.count("/") == 1 else None
    record = bedrock_agentcore._runtimes.get(runtime_id) if runtime_id else None
    # A runtime in a transition takes no update or delete (ConflictException, UpdateAgentRuntime
    # and DeleteAgentRuntime in the AgentCore control-plane API reference list it): a tool must
    # wait for READY.
    if record is not None and method in ("PUT", "DELETE") and record.get("status") in _RUNTIME_BUSY:
        return error_response_json(
            "ConflictException", f"Agent runtime {runtime_id} is {record['status']}; wait until it is READY.", 409
        )
    fresh = []

    async def call():
        out = await _agentcore_handle(method, path, headers, body, query_params)
        fresh.append(out)
        return out

    status, out_headers, out_body = await _idempotent("agentcore", method, path, body, call)
    if method == "PUT" and inner == "runtimes" and status < 300:
        created = json.loads(out_body)
        arn = created["agentRuntimeArn"]
        _agentcore_tags[arn] = dict(json.loads(body or b"{}").get("tags") or {})
        new = bedrock_agentcore._runtimes.get(created["agentRuntimeId"])
        if fresh and new is not None:
            # CREATING, then READY (AgentRuntimeStatus); ministack is READY at once.
            _settle(new, "status", [("CREATING", _DELAY), ("READY", 0)])
    if method == "PUT" and record is not None and status < 300:
        _settle(record, "status", [("UPDATING", _DELAY), ("READY", 0)])
    if method == "DELETE" and record is not None and status < 300:
        # DELETING for a while before it is gone (ministack removes it at once), with its tags.
        scoped = bedrock_agentcore._runtimes
        key = scoped._scoped(runtime_id)
        scoped._data[key] = record
        record["status"] = "DELETING"

        def gone():
            if scoped._data.get(key) is record:
                del scoped._data[key]
                _agentcore_tags.pop(record.get("agentRuntimeArn"), None)

        _later(_DELAY, gone)
        return status, out_headers, out_body
    if method == "DELETE" and inner.startswith("runtimes/") and inner.count("/") == 1 and status < 300:
        live = {r["agentRuntimeArn"] for r in bedrock_agentcore._runtimes.values()}
        for arn in [a for a in _agentcore_tags if a not in live]:
            del _agentcore_tags[arn]
    return status, out_headers, out_body


_RUNTIME_BUSY = ("CREATING", "UPDATING", "DELETING")
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

# Gap: ministack has no UpdateGroup (it answers InvalidAction), so a changed group description or
# precedence could not be deployed here. AWS: "If you don't provide a value for an attribute, it
# will be set to the default value" (UpdateGroup, Amazon Cognito API Reference): an omitted
# Description, RoleArn or Precedence is reset, not kept.
_dispatch_idp = cognito._dispatch_idp


def _update_group(data):
    pool, err = cognito._resolve_pool(data.get("UserPoolId"))
    if err:
        return err
    group = pool["_groups"].get(data.get("GroupName"))
    if not group:
        return error_response_json("ResourceNotFoundException", f"Group {data.get('GroupName')} not found.", 400)
    precedence = data.get("Precedence")
    if precedence is not None and precedence < 0:
        return error_response_json("InvalidParameterException", "Precedence must be at least 0.", 400)
    group["Description"] = data.get("Description", "")
    group["RoleArn"] = data.get("RoleArn", "")
    group["Precedence"] = precedence if precedence is not None else 0
    group["LastModifiedDate"] = cognito._now_epoch()
    return json_response({"Group": cognito._group_out(group)})


async def _dispatch_idp_bridged(action, data):
    if action == "UpdateGroup":
        return _update_group(data)
    return await _dispatch_idp(action, data)


cognito._dispatch_idp = _dispatch_idp_bridged

# Gap: ministack keeps S3 buckets per account, so two accounts can each have a bucket of the same
# name and neither notices the other. On AWS bucket names are global: CreateBucket of a name
# another account holds fails with BucketAlreadyExists (409), and any other call on it from an
# account without access is refused (403). ministack also ignores `x-amz-expected-bucket-owner`;
# AWS answers 403 when the bucket's owner is not the expected one ("Verifying bucket ownership
# with bucket owner condition", Amazon S3 User Guide).
_s3_handle = s3.handle_request


def _bucket_owner(name):
    for scoped_key in list(s3._buckets._data):
        if isinstance(scoped_key, tuple) and scoped_key[1] == name:
            return scoped_key[0]
    return None


async def _s3_handle_request(method, path, headers, body, query_params, *args, **kwargs):
    bucket, key = s3._parse_bucket_key(path, headers)
    owner = _bucket_owner(bucket) if bucket else None
    if owner is not None:
        caller = get_account_id()
        expected = next((v for k, v in headers.items() if k.lower() == "x-amz-expected-bucket-owner"), None)
        if owner != caller:
            if method == "PUT" and not key and not query_params:
                return s3._error("BucketAlreadyExists", "The requested bucket name is not available.", 409, f"/{bucket}")
            return s3._error("AccessDenied", "Access Denied", 403, f"/{bucket}")
        if expected and expected != owner:
            return s3._error("AccessDenied", "Access Denied", 403, f"/{bucket}")
    return await _s3_handle(method, path, headers, body, query_params, *args, **kwargs)


s3.handle_request = _s3_handle_request

# Gap: ministack removes a DB cluster or instance the moment it is deleted. On AWS both stay
# visible in status `deleting` (with their tags) for minutes: a tool must wait for them to go,
# and must not take a deleting resource for its own without looking at its tags. Deleted
# clusters and instances stay `deleting` here for RDS_DELETING_SECONDS (default 1).
_DELETING_SECONDS = float(os.environ.get("RDS_DELETING_SECONDS") or _DELAY)


def _lingering(table, ident_param, arn_field):
    delete = rds._ACTION_MAP[table]
    store = {"DeleteDBCluster": rds._clusters, "DeleteDBInstance": rds._instances}[table]

    def wrapped(p):
        ident = rds._p(p, ident_param)
        key = store._scoped(ident)
        record = store._data.get(key)
        tags_key = rds._tags._scoped(record.get(arn_field)) if record else None
        tags = rds._tags._data.get(tags_key) if record else None
        status_field = {"DeleteDBCluster": "Status", "DeleteDBInstance": "DBInstanceStatus"}[table]
        if record is not None and record.get(status_field) == "deleting":
            fault = {"DeleteDBCluster": "InvalidDBClusterStateFault", "DeleteDBInstance": "InvalidDBInstanceState"}[table]
            return rds._error(fault, f"{ident} is already being deleted.", 400)
        if table == "DeleteDBCluster" and any(
            i.get("DBClusterIdentifier") == ident and i.get("DBInstanceStatus") == "deleting"
            for i in list(rds._instances._data.values())
        ):
            return rds._error("InvalidDBClusterStateFault", "Cannot delete a DB cluster while it contains DB instances.", 400)
        out = delete(p)
        if record is not None and out[0] < 300 and key not in store._data:
            record[status_field] = "deleting"
            store._data[key] = record
            if tags is not None:
                rds._tags._data[tags_key] = tags

            def gone():
                if store._data.get(key) is record:
                    del store._data[key]
                    if tags is not None and rds._tags._data.get(tags_key) is tags:
                        del rds._tags._data[tags_key]

            timer = threading.Timer(_DELETING_SECONDS, gone)
            timer.daemon = True
            timer.start()
        return out

    rds._ACTION_MAP[table] = wrapped


# Gap: ministack lets ModifyDBCluster's EnableHttpEndpoint switch on the Data API of any
# cluster. On AWS that parameter applies only to Aurora Serverless v1 (EngineMode `serverless`);
# Serverless v2 and provisioned clusters need the EnableHttpEndpoint operation (EnableHttpEndpoint,
# RDS API reference). Here the parameter is ignored for them. And a lower EngineVersion than the
# cluster's (say 16.8 after an automatic upgrade to 16.9) is refused, as AWS refuses downgrades.
_modify_cluster = rds._ACTION_MAP["ModifyDBCluster"]


def _version(v):
    return tuple(int(x) for x in re.findall(r"\d+", v or ""))


def _modify_db_cluster(p):
    ident = rds._p(p, "DBClusterIdentifier")
    record = rds._clusters._data.get(rds._clusters._scoped(ident)) if ident else None
    wanted = rds._p(p, "EngineVersion")
    if record is not None and wanted and _version(wanted) < _version(record.get("EngineVersion")):
        return rds._error(
            "InvalidParameterCombination",
            f"Cannot upgrade {record.get('Engine')} from {record.get('EngineVersion')} to {wanted}",
            400,
        )
    before = record.get("HttpEndpointEnabled") if record else None
    out = _modify_cluster(p)
    if record is not None and record.get("EngineMode", "provisioned") != "serverless":
        record["HttpEndpointEnabled"] = before
    return out


rds._ACTION_MAP["ModifyDBCluster"] = _modify_db_cluster


# Gap: ministack's clusters and instances are `available` as soon as they are created. On AWS
# they are `creating` first (minutes), and a cluster that is not `available` refuses
# ModifyDBCluster and EnableHttpEndpoint with InvalidDBClusterStateFault (both list it in the RDS
# API reference). Here `creating` lasts LOCAL_CLOUD_DELAY_SECONDS. ministack sets a cluster
# `available` again as its instances come, so the state is held here and applied on every call
# that reads or needs it.
_held = []  # [record, field, state, until]
_held_lock = threading.Lock()  # RDS calls run on a thread pool


def _hold_states():
    with _held_lock:
        _hold_states_locked()


def _hold_states_locked():
    now = time.monotonic()
    for held in list(_held):
        record, field, state, until = held
        if record.get(field) == "deleting":
            _held.remove(held)
        elif now < until:
            record[field] = state
        else:
            if record.get(field) == state:
                record[field] = "available"
            _held.remove(held)


def _creating(action, ident_param, store, field):
    create = rds._ACTION_MAP[action]

    def wrapped(p):
        out = create(p)
        record = store._data.get(store._scoped(rds._p(p, ident_param)))
        if out[0] < 300 and record is not None:
            with _held_lock:
                _held.append([record, field, "creating", time.monotonic() + _DELAY])
            _hold_states()
        return out

    rds._ACTION_MAP[action] = wrapped


def _holding(action):
    call = rds._ACTION_MAP[action]

    def wrapped(p):
        _hold_states()
        return call(p)

    rds._ACTION_MAP[action] = wrapped


def _needs_available(action):
    call = rds._ACTION_MAP[action]

    def wrapped(p):
        _hold_states()
        ident = rds._p(p, "DBClusterIdentifier") or (rds._p(p, "ResourceArn") or "").rsplit(":", 1)[-1]
        record = rds._clusters._data.get(rds._clusters._scoped(ident)) if ident else None
        if record is not None and record.get("Status") != "available":
            return rds._error(
                "InvalidDBClusterStateFault", f"DB cluster {ident} is {record.get('Status')}, not available.", 400
            )
        return call(p)

    rds._ACTION_MAP[action] = wrapped


# Gap: ministack knows nothing of Aurora's express configuration (CreateDBCluster with
# WithExpressConfiguration, "Create with express configuration", Aurora User Guide): it would make
# an ordinary cluster with no writer. As the page documents it: one call makes the cluster and its
# Serverless v2 writer instance; no VPC ("DB subnet group: No VPC associated. Cannot be set."), the
# AWS owned key ("Cannot be modified"), the default engine version ("You cannot select a specific
# engine version"), IAM authentication for the master user ("Supported Value = iam-db-auth. Cannot
# be modified"; "managed credentials in AWS Secrets Manager ... cannot be used"), the Data API off
# ("Can be changed after the create operation completes"), master user `postgres` unless named,
# port 5432. What the page says cannot be set is refused with InvalidParameterCombination (the
# code AWS answers for a VPC: "Amazon RDS can't associate a VPC because Internet Access Gateway
# is enabled", as reported by users; the page names no code). The writer is `<cluster>-instance-1`
# (as in AWS's own example). DescribeDBClusters reports InternetAccessGatewayEnabled and
# VPCNetworkingEnabled (DBCluster, RDS API reference: "applicable only for Aurora PostgreSQL
# clusters created through express configuration").
_EXPRESS_REFUSED = {
    "DBSubnetGroupName": "Amazon RDS can't associate a VPC because Internet Access Gateway is enabled.",
    "VpcSecurityGroupIds.VpcSecurityGroupId.1": "Amazon RDS can't associate a VPC because Internet Access Gateway is enabled.",
    "KmsKeyId": "Express configuration uses an AWS owned key; KmsKeyId cannot be set.",
    "EngineVersion": "Express configuration uses the default engine version; EngineVersion cannot be set.",
    "MasterUserPassword": "Amazon RDS requires IAM DB authentication for the master user when Internet Access Gateway is enabled.",
    "ManageMasterUserPassword": "Amazon RDS requires IAM DB authentication for the master user when Internet Access Gateway is enabled.",
    "EnableHttpEndpoint": "Express configuration doesn't support enabling the Data API at creation; enable it after the cluster is available.",
    "DBClusterParameterGroupName": "Express configuration uses the default parameter group; it can be changed after creation.",
}
_EXPRESS_ENGINE_VERSION = "17.7"  # the default observed for express clusters in 2026
_create_cluster = rds._ACTION_MAP["CreateDBCluster"]


def _create_db_cluster(p):
    if rds._p(p, "WithExpressConfiguration") != "true":
        return _create_cluster(p)
    for param, message in _EXPRESS_REFUSED.items():
        if rds._p(p, param) not in ("", None):
            return rds._error("InvalidParameterCombination", message, 400)
    auth = rds._p(p, "MasterUserAuthenticationType")
    if auth and auth != "iam-db-auth":
        return rds._error("InvalidParameterCombination", _EXPRESS_REFUSED["MasterUserPassword"], 400)
    engine = rds._p(p, "Engine") or "aurora-postgresql"
    if engine != "aurora-postgresql":
        return rds._error("InvalidParameterCombination", "Express configuration supports Aurora PostgreSQL only.", 400)
    ident = rds._p(p, "DBClusterIdentifier")
    master = rds._p(p, "MasterUsername") or "postgres"
    # "1-63 alphanumeric characters; the first character must be a letter" (the page's Master
    # username row; `_` as Aurora PostgreSQL allows it).
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,62}", master):
        return rds._error("InvalidParameterValue", f"MasterUsername {master!r} must be 1 to 63 letters, digits or underscores, starting with a letter.", 400)
    q = {k: v for k, v in p.items() if k != "WithExpressConfiguration"}
    q.update({
        "Engine": [engine],
        "EngineVersion": [_EXPRESS_ENGINE_VERSION],
        "MasterUsername": [master],
        "EnableIAMDatabaseAuthentication": ["true"],
        "StorageEncrypted": ["true"],
        "Port": ["5432"],
    })
    out = _create_cluster(q)
    record = rds._clusters._data.get(rds._clusters._scoped(ident))
    if out[0] >= 300 or record is None:
        return out
    record["InternetAccessGatewayEnabled"] = True
    record["VPCNetworkingEnabled"] = False
    record["DBSubnetGroup"] = ""
    record["VpcSecurityGroups"] = []
    record.pop("MasterUserSecret", None)
    writer = rds._ACTION_MAP["CreateDBInstance"]({
        "DBInstanceIdentifier": [f"{ident}-instance-1"],
        "DBClusterIdentifier": [ident],
        "Engine": [engine],
        "DBInstanceClass": ["db.serverless"],
    })
    if writer[0] >= 300:
        return writer
    # ministack publishes `localhost` as every cluster's endpoint (its host, for containers); the
    # gateway tells clusters apart by the endpoint name the client asks for (TLS server name), so
    # each express cluster gets the AWS-form name of its own, which only this local cloud's
    # gateway answers for (clients dial it at 127.0.0.1 and verify the certificate for the name).
    suffix = hashlib.sha256(f"{get_account_id()}/{ident}".encode()).hexdigest()[:12]
    name = f"{ident}.cluster-{suffix}.{get_region()}.rds.amazonaws.com"
    record["Endpoint"] = record["_express_endpoint"] = name
    instance = rds._instances._data.get(rds._instances._scoped(f"{ident}-instance-1"))
    if instance is not None and isinstance(instance.get("Endpoint"), dict):
        instance["Endpoint"]["Address"] = name
    if isinstance(record.get("_shared_endpoint"), dict):
        record["_shared_endpoint"]["Address"] = name
    return out


rds._ACTION_MAP["CreateDBCluster"] = _create_db_cluster
_sync_endpoints = rds._sync_cluster_endpoints


def _sync_cluster_endpoints(cluster):
    """ministack points a cluster's endpoint at its compute's (`localhost`) on many calls; an
    express cluster keeps the name of its own."""
    _sync_endpoints(cluster)
    if cluster.get("_express_endpoint"):
        cluster["Endpoint"] = cluster["_express_endpoint"]


rds._sync_cluster_endpoints = _sync_cluster_endpoints
_cluster_xml = rds._cluster_xml


def _express_cluster_xml(c):
    xml = _cluster_xml(c)
    if c.get("InternetAccessGatewayEnabled"):
        xml += "<InternetAccessGatewayEnabled>true</InternetAccessGatewayEnabled><VPCNetworkingEnabled>false</VPCNetworkingEnabled>"
    return xml


rds._cluster_xml = _express_cluster_xml


_creating("CreateDBCluster", "DBClusterIdentifier", rds._clusters, "Status")
_creating("CreateDBInstance", "DBInstanceIdentifier", rds._instances, "DBInstanceStatus")
_holding("DescribeDBClusters")
_holding("DescribeDBInstances")
_needs_available("ModifyDBCluster")
_needs_available("EnableHttpEndpoint")

_lingering("DeleteDBCluster", "DBClusterIdentifier", "DBClusterArn")
_lingering("DeleteDBInstance", "DBInstanceIdentifier", "DBInstanceArn")

# Gap: ministack knows only three standard Availability Zones and ignores DescribeAvailability-
# Zones' filters. An AWS account that opted into a Local Zone also sees it there, with
# zoneType `local-zone` (DescribeAvailabilityZones, EC2 API reference), and its name sorts
# before the standard zones'. Here every region has one opted-in Local Zone, and the
# `zone-type` filter is honoured, so a tool that takes "the first zones" picks it as it would
# on AWS.
_describe_azs = ec2._ACTION_MAP["DescribeAvailabilityZones"]


def _describe_availability_zones(p):
    status, headers, body = _describe_azs(p)
    filters = ec2._parse_filters(p)
    types = filters.get("zone-type")
    if status < 300 and (types is None or "local-zone" in types):
        region = get_region()
        local = f"""<item>
        <zoneName>{region}-bos-1a</zoneName>
        <zoneState>available</zoneState>
        <regionName>{region}</regionName>
        <zoneId>use1-bos1-az1</zoneId>
        <groupName>{region}-bos-1</groupName>
        <networkBorderGroup>{region}-bos-1</networkBorderGroup>
        <optInStatus>opted-in</optInStatus>
        <zoneType>local-zone</zoneType>
        <parentZoneName>{region}a</parentZoneName>
    </item>"""
        text = body.decode() if isinstance(body, bytes) else body
        text = text.replace("<availabilityZoneInfo>", "<availabilityZoneInfo>" + local, 1)
        body = text.encode()
    if status < 300 and types is not None and "availability-zone" not in types:
        text = body.decode() if isinstance(body, bytes) else body
        text = re.sub(r"<item>(?:(?!</item>).)*<zoneType>availability-zone</zoneType>\s*</item>", "", text, flags=re.S)
        body = text.encode()
    return status, headers, body


ec2._ACTION_MAP["DescribeAvailabilityZones"] = _describe_availability_zones

# Gap: ministack answers every origin: `Access-Control-Allow-Origin: *` on its answers (Cognito's
# and S3's among them) and on every CORS preflight, so a cross-origin GetSecretValue from any web
# page the developer visits returns the secret. LocalStack refuses foreign origins by default;
# here every origin is refused, and so is a request for a host that is not loopback (DNS
# rebinding) or one that is not AWS-shaped (unsigned, or with a content type the Fetch standard
# lets a page send without a preflight): `local_common.refusal`. No `Access-Control-*` header
# leaves this server.
def _guarded(app):
    async def guarded(scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await app(scope, receive, send)
        method = scope.get("method", "GET")
        query = scope.get("query_string", b"").decode("latin-1")
        target = scope.get("path", "") + (f"?{query}" if query else "")
        why = local_common.refusal(method, target, scope.get("headers", []), "ministack")
        if why is not None:
            if scope["type"] == "websocket":
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})
                return
            body = local_common.refused_body(why)
            await send({
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-amzn-errortype", local_common.REFUSED_TYPE.encode()),
                    (b"connection", b"close"),
                ],
            })
            await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
            return

        async def send_without_cors(message):
            if message["type"] in ("http.response.start", "websocket.accept") and message.get("headers"):
                message = dict(message, headers=local_common.without_cors(message["headers"]))
            await send(message)

        await app(scope, receive, send_without_cors)

    return guarded


# Gap: ministack's Lambda ignores the invoker's client context (`X-Amz-Client-Context`, base64
# JSON): the handler's `context.client_context` is always None. AgentCore Gateway passes the
# tool's name there (`custom.bedrockAgentCoreToolName`), so tutorial 4's tools need it. The
# pooled Python worker already takes per-invocation environment variables beside the event (the
# durable-execution ones): the client context rides along as one more, and the worker's context
# object gets `client_context` with `custom`, `env` and `client` from it, as on AWS.
_CLIENT_CONTEXT_VAR = "_LOCAL_CLIENT_CONTEXT"
_client_context = contextvars.ContextVar("client_context", default=None)
_worker_script = lambda_runtime._PYTHON_WORKER_SCRIPT
_worker_script = _worker_script.replace(
    "for _ms_var in [", f"for _ms_var in [{json.dumps(_CLIENT_CONTEXT_VAR)}, ", 1
).replace(
    '"client_context": None,',
    '"client_context": (lambda cc: type("ClientContext", (), {"custom": cc.get("custom"), "env": cc.get("env"), '
    f'"client": cc.get("client")}})() if cc else None)(json.loads(os.environ.get({_CLIENT_CONTEXT_VAR!r}) or "null")),',
    1,
)
if _worker_script.count(_CLIENT_CONTEXT_VAR) != 2:
    raise SystemExit("ministack_launcher: ministack's Python worker changed; the client-context patch no longer applies")
lambda_runtime._PYTHON_WORKER_SCRIPT = _worker_script
_original_invoke = lambda_svc._invoke


async def _invoke_with_client_context(name, event, headers, *args, **kwargs):
    raw = next((v for k, v in (headers or {}).items() if k.lower() == "x-amz-client-context"), None)
    decoded = None
    if raw:
        try:
            decoded = json.loads(base64.b64decode(raw))
        except ValueError:
            return error_response_json("InvalidRequestContentException", "Client context must be base64-encoded JSON", 400)
    token = _client_context.set(json.dumps(decoded) if isinstance(decoded, dict) else None)
    try:
        return await _original_invoke(name, event, headers, *args, **kwargs)
    finally:
        _client_context.reset(token)


lambda_svc._invoke = _invoke_with_client_context
_original_worker_invoke = lambda_runtime.Worker.invoke


def _worker_invoke(self, event, request_id, *args, durable=None, **kwargs):
    cc = _client_context.get()
    if cc is not None:
        durable = dict(durable or {}, **{_CLIENT_CONTEXT_VAR: cc})
    return _original_worker_invoke(self, event, request_id, *args, durable=durable, **kwargs)


lambda_runtime.Worker.invoke = _worker_invoke


if __name__ == "__main__":
    import ministack.app

    # Loads botocore's Cognito model now, not in the event loop on the first request.
    local_common.refusal("POST", "/", [("host", "localhost")], "ministack")
    # main() serves the module's `app`.
    ministack.app.app = _guarded(ministack.app.app)
    sys.exit(ministack.app.main())
