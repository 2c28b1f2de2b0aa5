"""Looks into the local cloud's emulators directly with boto3, so the tests check what the
emulator holds rather than what the provisioner says it did.

usage: emulator.py ENDPOINT inventory PREFIX | secrets PREFIX | make-bucket NAME
(the moto endpoint for S3 Vectors comes from $MOTO_URL)
"""
import os
import json
import sys

import boto3

endpoint, command, arg = sys.argv[1], sys.argv[2], sys.argv[3]
session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
idp = session.client("cognito-idp", endpoint_url=endpoint)
sm = session.client("secretsmanager", endpoint_url=endpoint)
s3 = session.client("s3", endpoint_url=endpoint, config=boto3.session.Config(s3={"addressing_style": "path"}))
rds = session.client("rds", endpoint_url=endpoint)
ec2 = session.client("ec2", endpoint_url=endpoint)
iam = session.client("iam", endpoint_url=endpoint)
bedrock = session.client("bedrock-agent", endpoint_url=endpoint)
agentcore = session.client("bedrock-agentcore-control", endpoint_url=endpoint)
logs = session.client("logs", endpoint_url=endpoint)
lam = session.client("lambda", endpoint_url=endpoint)
vectors = session.client("s3vectors", endpoint_url=os.environ["MOTO_URL"]) if os.environ.get("MOTO_URL") else None


def inventory(prefix):
    pools = []
    for p in idp.list_user_pools(MaxResults=60)["UserPools"]:
        if not p["Name"].startswith(prefix):
            continue
        users = []
        for u in idp.list_users(UserPoolId=p["Id"])["Users"]:
            groups = idp.admin_list_groups_for_user(UserPoolId=p["Id"], Username=u["Username"])["Groups"]
            attrs = {a["Name"]: a["Value"] for a in u.get("Attributes", []) if a["Name"].startswith("custom:")}
            users.append({"username": u["Username"], "status": u["UserStatus"], "groups": sorted(g["GroupName"] for g in groups), "attributes": attrs})
        groups = sorted(g["GroupName"] for g in idp.list_groups(UserPoolId=p["Id"])["Groups"])
        clients = sorted(c["ClientName"] for c in idp.list_user_pool_clients(UserPoolId=p["Id"], MaxResults=60)["UserPoolClients"])
        pools.append({"name": p["Name"], "users": sorted(users, key=lambda u: u["username"]), "groups": groups, "clients": clients})
    secrets = sorted(s["Name"] for s in sm.list_secrets()["SecretList"] if s["Name"].startswith(prefix.replace("-", "/", 1).split("/")[0]) and prefix_match(s["Name"], prefix))
    buckets = []
    for b in s3.list_buckets()["Buckets"]:
        if b["Name"].startswith(prefix):
            keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b["Name"]).get("Contents", []))
            buckets.append({"name": b["Name"], "objects": keys})
    clusters = sorted(c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"] if c["DBClusterIdentifier"].startswith(prefix))
    instances = sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"] if i["DBInstanceIdentifier"].startswith(prefix))
    subnet_groups = sorted(g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"] if g["DBSubnetGroupName"].startswith(prefix))
    snapshots = sorted(s["DBClusterSnapshotIdentifier"] for s in rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"] if s["DBClusterIdentifier"].startswith(prefix))
    named = lambda items: sorted(t["Value"] for i in items for t in i.get("Tags", []) if t["Key"] == "Name" and t["Value"].startswith(prefix))
    vpcs = named(ec2.describe_vpcs()["Vpcs"])
    subnets = named(ec2.describe_subnets()["Subnets"])
    groups = sorted(g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith(prefix))
    # RDS-managed master secrets are named rds!cluster-<uuid>; their description names the cluster.
    managed = sorted(s["Name"] for s in sm.list_secrets()["SecretList"] if s["Name"].startswith("rds!") and prefix in s.get("Description", ""))
    out = {"user_pools": sorted(pools, key=lambda p: p["name"]), "secrets": secrets, "buckets": buckets}
    roles = sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(prefix))
    kbs = sorted(k["name"] for k in bedrock.list_knowledge_bases()["knowledgeBaseSummaries"] if k["name"].startswith(prefix))
    vector_buckets = sorted(b["vectorBucketName"] for b in vectors.list_vector_buckets()["vectorBuckets"] if b["vectorBucketName"].startswith(prefix)) if vectors else []
    indexes = sorted(i["indexName"] for b in vector_buckets for i in vectors.list_indexes(vectorBucketName=b)["indexes"])
    # AgentCore runtime names allow no '-': the provisioner maps it to '_'.
    runtimes = sorted(r["agentRuntimeName"] for r in agentcore.list_agent_runtimes()["agentRuntimes"] if r["agentRuntimeName"].startswith(prefix.replace("-", "_")))
    log_prefix = "/aws/bedrock-agentcore/runtimes/" + prefix.replace("-", "_")
    log_groups = sorted(g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=log_prefix)["logGroups"])
    under = prefix.replace("-", "_")
    functions = sorted(f["FunctionName"] for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith(prefix))
    log_groups += sorted(g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/" + prefix)["logGroups"])
    # Lambda permissions are statements of their function's policy: they go with it.
    gateways = []
    for g in agentcore.list_gateways()["items"]:
        if g["name"].startswith(prefix):
            targets = sorted(t["name"] for t in agentcore.list_gateway_targets(gatewayIdentifier=g["gatewayId"])["items"])
            gateways.append({"name": g["name"], "targets": targets})
    engines, policies = [], []
    for e in agentcore.list_policy_engines()["policyEngines"]:
        if e["name"].startswith(under):
            engines.append(e["name"])
        # Policy names are unique in the account: listed wherever they are.
        policies += [p["name"] for p in agentcore.list_policies(policyEngineId=e["policyEngineId"])["policies"] if p["name"].startswith(under)]
    # A memory's id is its name, '-' and ten characters (ListMemories gives no names); its
    # events go with it.
    memories = sorted(m["id"][:-11] for m in agentcore.list_memories()["memories"] if m["id"].startswith(under))
    database = {"memories": memories, "functions": functions, "gateways": sorted(gateways, key=lambda g: g["name"]), "policy_engines": sorted(engines), "policies": sorted(policies),
                "agent_runtimes": runtimes, "log_groups": log_groups, "roles": roles, "knowledge_bases": kbs, "vector_buckets": vector_buckets, "vector_indexes": indexes, "clusters": clusters, "instances": instances, "subnet_groups": subnet_groups, "cluster_snapshots": snapshots,
                "vpcs": vpcs, "subnets": subnets, "security_groups": groups, "managed_secrets": managed}
    out.update({k: v for k, v in database.items() if v})
    return out


def prefix_match(secret_name, prefix):
    # agentcore-mt-<env>- for names, agentcore-mt/<env>/ for secrets
    project, env = "agentcore-mt", prefix[len("agentcore-mt-"):].rstrip("-")
    return secret_name.startswith(f"{project}/{env}/") if env else secret_name.startswith(project)


def _runtime_status(runtime_id):
    """A runtime's status, or the error code AWS answers for it."""
    try:
        return agentcore.get_agent_runtime(agentRuntimeId=runtime_id)["status"]
    except Exception as e:
        return getattr(e, "response", {}).get("Error", {}).get("Code", repr(e))


if command == "inventory":
    print(json.dumps(inventory(arg)))
elif command == "secrets":
    # Every generated or managed password of the environment (not usernames).
    values = []
    for s in sm.list_secrets()["SecretList"]:
        mine = prefix_match(s["Name"], arg) or (s["Name"].startswith("rds!") and arg in s.get("Description", ""))
        if mine:
            doc = json.loads(sm.get_secret_value(SecretId=s["ARN"])["SecretString"])
            values += [{"secret": s["Name"], "value": v} for k, v in doc.items() if k != "username"]
    print(json.dumps(values))
elif command == "runtime-versions":
    # The versions of the runtime named `arg`, newest first.
    runtime = next(r for r in agentcore.list_agent_runtimes()["agentRuntimes"] if r["agentRuntimeName"] == arg)
    versions = agentcore.list_agent_runtime_versions(agentRuntimeId=runtime["agentRuntimeId"])["agentRuntimes"]
    print(json.dumps([v["agentRuntimeVersion"] for v in versions]))
elif command == "make-runtime":
    # A runtime with our name but none of our tags (someone else's).
    out = agentcore.create_agent_runtime(
        agentRuntimeName=arg,
        agentRuntimeArtifact={"codeConfiguration": {"code": {"s3": {"bucket": "elsewhere", "prefix": "agent.zip"}}, "runtime": "PYTHON_3_12", "entryPoint": ["main.py"]}},
        roleArn="arn:aws:iam::000000000000:role/someone-elses",
        networkConfiguration={"networkMode": "PUBLIC"},
    )
    print(json.dumps({"created": out["agentRuntimeArn"]}))
elif command == "self-update-tenant":
    # mike-broker-a signs in (tutorial 2 of environment `arg`) and tries to move himself to
    # broker-b with his own access token. Prints the outcome, never the password.
    pool = next(p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == f"agentcore-mt-{arg}-t2-user-pool")
    client = next(c for c in idp.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=60)["UserPoolClients"] if c["ClientName"] == f"agentcore-mt-{arg}-t2-app-client")
    password = json.loads(sm.get_secret_value(SecretId=f"agentcore-mt/{arg}/t2/demo-passwords")["SecretString"])["mike-broker-a"]
    auth = idp.initiate_auth(ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": "mike-broker-a", "PASSWORD": password})
    token = auth["AuthenticationResult"]["AccessToken"]
    try:
        idp.update_user_attributes(AccessToken=token, UserAttributes=[{"Name": "custom:tenant_id", "Value": "broker-b"}])
        outcome = "updated"
    except idp.exceptions.ClientError as e:
        outcome = e.response["Error"]["Code"]
    user = idp.admin_get_user(UserPoolId=pool["Id"], Username="mike-broker-a")
    tenant = next((a["Value"] for a in user["UserAttributes"] if a["Name"] == "custom:tenant_id"), None)
    print(json.dumps({"outcome": outcome, "tenant_after": tenant}))
elif command == "make-bucket-in-another-account":
    # Account 111111111111 (ministack takes a 12-digit access key as the account) creates a
    # bucket with our name AND our ownership tags, with a file in it: a squatter.
    other = boto3.session.Session(aws_access_key_id="111111111111", aws_secret_access_key="test", region_name="us-east-1")
    s3o = other.client("s3", endpoint_url=endpoint, config=boto3.session.Config(s3={"addressing_style": "path"}))
    s3o.create_bucket(Bucket=arg)
    tags = {"project": "agentcore-mt", "env": "dev", "stack": "unstructured-rag", "logical-id": "documents"}
    s3o.put_bucket_tagging(Bucket=arg, Tagging={"TagSet": [{"Key": f"agentcore-mt:{k}", "Value": v} for k, v in tags.items()]})
    s3o.put_object(Bucket=arg, Key="theirs.txt", Body=b"someone else's")
    print(json.dumps({"created": arg}))
elif command == "bucket-in-another-account":
    other = boto3.session.Session(aws_access_key_id="111111111111", aws_secret_access_key="test", region_name="us-east-1")
    s3o = other.client("s3", endpoint_url=endpoint, config=boto3.session.Config(s3={"addressing_style": "path"}))
    keys = [o["Key"] for o in s3o.list_objects_v2(Bucket=arg).get("Contents", [])]
    tags = {t["Key"]: t["Value"] for t in s3o.get_bucket_tagging(Bucket=arg)["TagSet"]}
    print(json.dumps({"objects": keys, "tags": tags}))
elif command == "make-deleting-cluster":
    # A cluster with our name but none of our tags, being deleted (it stays `deleting` for the
    # local cloud's RDS_DELETING_SECONDS).
    rds.create_db_cluster(DBClusterIdentifier=arg, Engine="aurora-postgresql", MasterUsername="someone", MasterUserPassword="not-ours-0000")
    out = rds.delete_db_cluster(DBClusterIdentifier=arg, SkipFinalSnapshot=True)
    status = rds.describe_db_clusters(DBClusterIdentifier=arg)["DBClusters"][0]["Status"]
    print(json.dumps({"arn": out["DBCluster"]["DBClusterArn"], "status": status}))
elif command == "data-api-select":
    # One statement as the master user of environment `arg`'s claims cluster, straight to the
    # Data API ($DATA_API_URL): its result, or the error code AWS would name.
    data = session.client("rds-data", endpoint_url=os.environ["DATA_API_URL"])
    cluster = rds.describe_db_clusters(DBClusterIdentifier=f"agentcore-mt-{arg}-t2-claims-db")["DBClusters"][0]
    try:
        data.execute_statement(resourceArn=cluster["DBClusterArn"], secretArn=cluster["MasterUserSecret"]["SecretArn"], database="claims", sql="SELECT 1")
        print(json.dumps({"outcome": "ok"}))
    except data.exceptions.ClientError as e:
        print(json.dumps({"outcome": e.response["Error"]["Code"]}))
elif command == "subnet-zones":
    # The zone of each subnet named with prefix `arg`, by name.
    out = {}
    for sn in ec2.describe_subnets()["Subnets"]:
        name = next((t["Value"] for t in sn.get("Tags", []) if t["Key"] == "Name"), "")
        if name.startswith(arg):
            out[name] = sn["AvailabilityZone"]
    print(json.dumps(out))
elif command == "aws-rules":
    # What the local cloud refuses because AWS does (each bridged in ministack_launcher.py), tried
    # with boto3 on its own resources named `arg`-...: the error codes, or what happened.
    out = {}
    def code(call):
        try:
            call()
            return "ok"
        except Exception as e:  # botocore's ClientError, by its code
            return getattr(e, "response", {}).get("Error", {}).get("Code", repr(e))
    s3v = {"indexArn": "arn:aws:s3vectors:us-east-1:000000000000:bucket/b/index/i", "vectorBucketArn": "arn:aws:s3vectors:us-east-1:000000000000:bucket/b"}
    kb_args = dict(roleArn="arn:aws:iam::000000000000:role/r", knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"}})
    out["kb_with_index_arn_and_bucket"] = code(lambda: bedrock.create_knowledge_base(name=f"{arg}-both", storageConfiguration={"type": "S3_VECTORS", "s3VectorsConfiguration": s3v}, **kb_args))
    kb = bedrock.create_knowledge_base(name=f"{arg}-kb", storageConfiguration={"type": "S3_VECTORS", "s3VectorsConfiguration": {"indexArn": s3v["indexArn"]}}, **kb_args)["knowledgeBase"]
    out["kb_status_at_create"] = kb["status"]
    ds_args = dict(knowledgeBaseId=kb["knowledgeBaseId"], name=f"{arg}-ds", dataSourceConfiguration={"type": "S3", "s3Configuration": {"bucketArn": "arn:aws:s3:::b"}}, vectorIngestionConfiguration={"chunkingConfiguration": {"chunkingStrategy": "FIXED_SIZE", "fixedSizeChunkingConfiguration": {"maxTokens": 300, "overlapPercentage": 20}}})
    out["ds_on_a_creating_kb"] = code(lambda: bedrock.create_data_source(**ds_args))
    import time
    deadline = time.time() + 30
    while bedrock.get_knowledge_base(knowledgeBaseId=kb["knowledgeBaseId"])["knowledgeBase"]["status"] != "ACTIVE" and time.time() < deadline:
        time.sleep(0.2)
    ds = bedrock.create_data_source(**ds_args)["dataSource"]
    update = dict(knowledgeBaseId=kb["knowledgeBaseId"], dataSourceId=ds["dataSourceId"], name=ds_args["name"], dataSourceConfiguration=ds_args["dataSourceConfiguration"])
    out["ds_update_without_chunking"] = code(lambda: bedrock.update_data_source(**update))
    out["ds_update_with_other_chunking"] = code(lambda: bedrock.update_data_source(vectorIngestionConfiguration={"chunkingConfiguration": {"chunkingStrategy": "NONE"}}, **update))
    out["ds_update_with_the_same_chunking"] = code(lambda: bedrock.update_data_source(vectorIngestionConfiguration=ds_args["vectorIngestionConfiguration"], **update))
    def until(what, check, first=None):
        # The states seen while waiting (at most 30 s) for `check`, in order, each once, after
        # `first` (the state the creating call answered).
        seen, deadline = [first] if first else [], time.time() + 30
        while True:
            state = what()
            if not seen or seen[-1] != state:
                seen.append(state)
            if check(state) or time.time() > deadline:
                return seen
            time.sleep(0.05)
    # Ingestion jobs: STARTING -> IN_PROGRESS -> COMPLETE.
    start = dict(knowledgeBaseId=kb["knowledgeBaseId"], dataSourceId=ds["dataSourceId"], clientToken="probe-ingestion-start-token-0123456789")
    job = bedrock.start_ingestion_job(**start)["ingestionJob"]
    get_job = lambda: bedrock.get_ingestion_job(knowledgeBaseId=kb["knowledgeBaseId"], dataSourceId=ds["dataSourceId"], ingestionJobId=job["ingestionJobId"])["ingestionJob"]["status"]
    out["ingestion_states"] = until(get_job, lambda s: s in ("COMPLETE", "FAILED"), job["status"])
    # The same client token again, after the job ended: the original answer (same job, as it was
    # then), and the job does not start over.
    again = bedrock.start_ingestion_job(**start)["ingestionJob"]
    out["ingestion_replay"] = [again["ingestionJobId"] == job["ingestionJobId"], again["status"], get_job()]
    # Runtimes: CREATING -> READY, no update meanwhile; DELETING, then gone.
    runtime_args = dict(agentRuntimeArtifact={"codeConfiguration": {"code": {"s3": {"bucket": "elsewhere", "prefix": "agent.zip"}}, "runtime": "PYTHON_3_12", "entryPoint": ["main.py"]}}, roleArn="arn:aws:iam::000000000000:role/r", networkConfiguration={"networkMode": "PUBLIC"})
    runtime = agentcore.create_agent_runtime(agentRuntimeName=f"{arg}_runtime", **runtime_args)
    get_runtime = lambda: _runtime_status(runtime["agentRuntimeId"])
    out["runtime_status_after_create"] = get_runtime()
    out["runtime_update_while_creating"] = code(lambda: agentcore.update_agent_runtime(agentRuntimeId=runtime["agentRuntimeId"], **runtime_args))
    until(get_runtime, lambda s: s == "READY")
    agentcore.delete_agent_runtime(agentRuntimeId=runtime["agentRuntimeId"])
    out["runtime_states_after_delete"] = until(get_runtime, lambda s: s == "ResourceNotFoundException")
    # Clusters and instances: creating -> available; no ModifyDBCluster or EnableHttpEndpoint
    # before.
    cluster = rds.create_db_cluster(DBClusterIdentifier=f"{arg}-db", Engine="aurora-postgresql", MasterUsername="someone", MasterUserPassword="not-ours-0000", ServerlessV2ScalingConfiguration={"MinCapacity": 0, "MaxCapacity": 2})["DBCluster"]
    rds.create_db_instance(DBInstanceIdentifier=f"{arg}-db-1", DBClusterIdentifier=f"{arg}-db", Engine="aurora-postgresql", DBInstanceClass="db.serverless")
    cluster_status = lambda: rds.describe_db_clusters(DBClusterIdentifier=f"{arg}-db")["DBClusters"][0]["Status"]
    instance_status = lambda: rds.describe_db_instances(DBInstanceIdentifier=f"{arg}-db-1")["DBInstances"][0]["DBInstanceStatus"]
    out["instance_status_after_create"] = instance_status()
    out["modify_while_creating"] = code(lambda: rds.modify_db_cluster(DBClusterIdentifier=f"{arg}-db", DeletionProtection=False, ApplyImmediately=True))
    out["enable_data_api_while_creating"] = code(lambda: rds.enable_http_endpoint(ResourceArn=cluster["DBClusterArn"]))
    out["cluster_states"] = until(cluster_status, lambda s: s == "available")
    until(instance_status, lambda s: s == "available")
    rds.modify_db_cluster(DBClusterIdentifier=f"{arg}-db", EnableHttpEndpoint=True, ApplyImmediately=True)
    # A region lists the inference profiles it can call: its geography's and the global ones.
    for region in ("us-east-1", "eu-west-1", "sa-east-1"):
        listed = session.client("bedrock", endpoint_url=endpoint, region_name=region).list_inference_profiles(typeEquals="SYSTEM_DEFINED")["inferenceProfileSummaries"]
        out[f"profile_prefixes_in_{region}"] = sorted({p["inferenceProfileId"].split(".")[0] for p in listed})
    out["v2_data_api_after_modify"] = rds.describe_db_clusters(DBClusterIdentifier=f"{arg}-db")["DBClusters"][0].get("HttpEndpointEnabled", False)
    rds.enable_http_endpoint(ResourceArn=cluster["DBClusterArn"])
    out["v2_data_api_after_enable_operation"] = rds.describe_db_clusters(DBClusterIdentifier=f"{arg}-db")["DBClusters"][0].get("HttpEndpointEnabled", False)
    print(json.dumps(out))
elif command == "disable-data-api":
    # Environment `arg`'s claims cluster without its Data API, as after a console click.
    cluster = rds.describe_db_clusters(DBClusterIdentifier=f"agentcore-mt-{arg}-t2-claims-db")["DBClusters"][0]
    rds.disable_http_endpoint(ResourceArn=cluster["DBClusterArn"])
    print(json.dumps({"enabled": rds.describe_db_clusters(DBClusterIdentifier=cluster["DBClusterIdentifier"])["DBClusters"][0].get("HttpEndpointEnabled", False)}))
elif command == "minor-upgrade":
    # Environment `arg`'s claims cluster after an automatic minor version upgrade.
    ident = f"agentcore-mt-{arg}-t2-claims-db"
    version = rds.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]["EngineVersion"]
    major, minor = version.split(".")[:2]
    rds.modify_db_cluster(DBClusterIdentifier=ident, EngineVersion=f"{major}.{int(minor) + 1}", ApplyImmediately=True)
    print(json.dumps({"from": version, "to": rds.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]["EngineVersion"]}))
elif command == "retain-data-source":
    # Environment `arg`'s policy data source with dataDeletionPolicy RETAIN, as an earlier
    # version of the provisioner made it.
    kb = next(k for k in bedrock.list_knowledge_bases()["knowledgeBaseSummaries"] if k["name"] == f"agentcore-mt-{arg}-t1-knowledge-base")
    summary = bedrock.list_data_sources(knowledgeBaseId=kb["knowledgeBaseId"])["dataSourceSummaries"][0]
    ds = bedrock.get_data_source(knowledgeBaseId=kb["knowledgeBaseId"], dataSourceId=summary["dataSourceId"])["dataSource"]
    bedrock.update_data_source(knowledgeBaseId=kb["knowledgeBaseId"], dataSourceId=ds["dataSourceId"], name=ds["name"], dataSourceConfiguration=ds["dataSourceConfiguration"], vectorIngestionConfiguration=ds["vectorIngestionConfiguration"], dataDeletionPolicy="RETAIN")
    ds = bedrock.get_data_source(knowledgeBaseId=kb["knowledgeBaseId"], dataSourceId=ds["dataSourceId"])["dataSource"]
    print(json.dumps({"policy": ds["dataDeletionPolicy"]}))
elif command == "make-bucket":
    s3.create_bucket(Bucket=arg)
    print(json.dumps({"created": arg}))
elif command == "role-policies":
    # Each role named with prefix `arg`: its inline policy, as deployed.
    out = {}
    for r in iam.list_roles()["Roles"]:
        if r["RoleName"].startswith(arg):
            for name in iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]:
                doc = iam.get_role_policy(RoleName=r["RoleName"], PolicyName=name)["PolicyDocument"]
                out[r["RoleName"]] = json.loads(doc) if isinstance(doc, str) else doc
    print(json.dumps(out))
elif command == "drop-boundary":
    # Takes role `arg`'s permissions boundary away (as someone with IAM rights could).
    iam.delete_role_permissions_boundary(RoleName=arg)
    print(json.dumps({"role": arg}))
elif command == "role-boundary":
    role = iam.get_role(RoleName=arg)["Role"]
    print(json.dumps({"boundary": role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")}))
elif command == "make-log-group":
    # A log group as AgentCore leaves one behind for a runtime it deleted (untagged).
    logs.create_log_group(logGroupName=arg)
    print(json.dumps({"created": arg}))
elif command == "make-forged":
    # Someone else's production pool and bucket, named nothing like ours, carrying our tags for
    # environment `arg` (anyone allowed to tag can do this), dated 2001 and expired then.
    tags = {"agentcore-mt:project": "agentcore-mt", "agentcore-mt:env": arg, "agentcore-mt:stack": "unknown", "agentcore-mt:logical-id": "x", "agentcore-mt:created-at": "2001-01-01T00:00:00Z", "agentcore-mt:expires-at": "2001-01-01T00:00:00Z"}
    pool = idp.create_user_pool(PoolName="customer-prod-users", UserPoolTags=tags)["UserPool"]
    s3.create_bucket(Bucket="customer-prod-data")
    s3.put_bucket_tagging(Bucket="customer-prod-data", Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    s3.put_object(Bucket="customer-prod-data", Key="ledger.csv", Body=b"theirs")
    print(json.dumps({"pool": pool["Id"], "bucket": "customer-prod-data"}))
elif command == "forged-alive":
    # Whether make-forged's pool and bucket (with its object) are still there.
    pools = [p["Name"] for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == "customer-prod-users"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="customer-prod-data").get("Contents", [])] if any(b["Name"] == "customer-prod-data" for b in s3.list_buckets()["Buckets"]) else None
    print(json.dumps({"pools": pools, "objects": keys}))
elif command == "forge-expiry":
    # `BUCKET=TIME`: sets the bucket's expires-at tag to TIME (a forged expiry), keeping its others.
    bucket, at = arg.split("=", 1)
    tagset = [t for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"] if t["Key"] != "agentcore-mt:expires-at"]
    tagset.append({"Key": "agentcore-mt:expires-at", "Value": at})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagset})
    print(json.dumps({"bucket": bucket, "expires_at": at}))
elif command == "gateway-log-only":
    # Someone switches the gateway `arg` to LOG_ONLY (UpdateGateway replaces the whole
    # configuration: everything else is sent as it was).
    g = next(x for x in agentcore.list_gateways()["items"] if x["name"] == arg)
    full = agentcore.get_gateway(gatewayIdentifier=g["gatewayId"])
    keep = {k: full[k] for k in ("description", "roleArn", "protocolType", "authorizerType", "authorizerConfiguration", "interceptorConfigurations") if k in full}
    engine = dict(full["policyEngineConfiguration"], mode="LOG_ONLY")
    agentcore.update_gateway(gatewayIdentifier=g["gatewayId"], name=g["name"], policyEngineConfiguration=engine, **keep)
    print(json.dumps({"gateway": g["gatewayId"], "mode": "LOG_ONLY"}))
elif command == "make-gateway":
    # A gateway named `arg` that carries the tags of env pr-41's tutorial 4 gateway (anyone who
    # may tag can write them), and a `Name` tag with that gateway's name: not ours by its name.
    tags = {"agentcore-mt:project": "agentcore-mt", "agentcore-mt:env": "pr-41", "agentcore-mt:stack": "tool-gateway",
            "agentcore-mt:logical-id": "gateway", "Name": "agentcore-mt-pr-41-t4-gateway"}
    g = agentcore.create_gateway(name=arg, roleArn="arn:aws:iam::000000000000:role/someone", protocolType="MCP",
                                 authorizerType="NONE", tags=tags)
    print(json.dumps({"gateway": g["gatewayId"]}))
elif command == "gateway-without-interceptor":
    # Someone takes the gateway `arg`'s interceptor off, everything else kept.
    g = next(x for x in agentcore.list_gateways()["items"] if x["name"] == arg)
    full = agentcore.get_gateway(gatewayIdentifier=g["gatewayId"])
    keep = {k: full[k] for k in ("description", "roleArn", "protocolType", "authorizerType", "authorizerConfiguration", "policyEngineConfiguration") if k in full}
    agentcore.update_gateway(gatewayIdentifier=g["gatewayId"], name=g["name"], **keep)
    print(json.dumps({"gateway": g["gatewayId"], "interceptors": []}))
elif command == "delete-policy":
    # Someone deletes the policy named `arg`, wherever it is.
    for e in agentcore.list_policy_engines()["policyEngines"]:
        for p in agentcore.list_policies(policyEngineId=e["policyEngineId"])["policies"]:
            if p["name"] == arg:
                agentcore.delete_policy(policyEngineId=e["policyEngineId"], policyId=p["policyId"])
                print(json.dumps({"deleted": p["policyId"]}))
                sys.exit(0)
    sys.exit(f"no policy {arg}")
else:
    sys.exit(f"unknown command {command}")
