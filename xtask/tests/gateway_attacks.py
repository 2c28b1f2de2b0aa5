"""The express cluster's internet access gateway (the local stand-in, db_gateway.py) against the
ways in that AWS refuses, for a deployed tutorial 2 on the express path. Prints a JSON list of
cases, each with `ok` (the gateway answered as AWS would) and what happened.

usage: gateway_attacks.py MINISTACK_URL GATEWAY_HOST:PORT CA_PEM ENV [FULL_ENV]
"""
import datetime
import json
import socket
import ssl
import struct
import sys
from unittest import mock

import boto3
import pg8000.native

ministack, gateway, ca, env = sys.argv[1:5]
full_env = sys.argv[5] if len(sys.argv) > 5 else None
gw_host, gw_port = gateway.rsplit(":", 1)
session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
rds = session.client("rds", endpoint_url=ministack)
sm = session.client("secretsmanager", endpoint_url=ministack)

cluster = rds.describe_db_clusters(DBClusterIdentifier=f"agentcore-mt-{env}-t2-claims-db-express")["DBClusters"][0]
ENDPOINT, PORT, MASTER = cluster["Endpoint"], cluster["Port"], cluster["MasterUsername"]
admin = json.loads(sm.get_secret_value(SecretId=f"agentcore-mt/{env}/t2/db-admin-login")["SecretString"])
app = json.loads(sm.get_secret_value(SecretId=f"agentcore-mt/{env}/t2/app-user-login")["SecretString"])


def token(user, host=ENDPOINT, port=PORT, client=rds, at=None):
    if at is None:
        return client.generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        made = client.generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user)
    assert at.strftime("%Y%m%dT%H%M") in made, "the token was not signed at the time asked for"
    return made


def connect(user, secret, database="postgres", sni=ENDPOINT, verify=True):
    context = ssl.create_default_context(cafile=ca) if verify else None
    sock = socket.create_connection((gw_host, int(gw_port)), timeout=10)
    conn = pg8000.native.Connection(user, host=sni, password=secret, database=database, ssl_context=context, sock=sock, timeout=10)
    try:
        return conn.run("SELECT current_user")[0][0]
    finally:
        conn.close()


cases = []


def case(name, expect_ok, attempt):
    try:
        got = attempt()
        ok, what = expect_ok, f"signed in as {got}"
    except Exception as e:  # noqa: BLE001 - any refusal is the answer we look at
        ok, what = not expect_ok, f"{type(e).__name__}: {e}"
    cases.append({"case": name, "ok": ok, "expected": "allowed" if expect_ok else "refused", "got": what[:300]})


case("the master user with a valid IAM token", True, lambda: connect(MASTER, token(MASTER)))
case("the Data API's login with its password (the gateway takes IAM tokens only)", False, lambda: connect(admin["username"], admin["password"], "claims"))
case("app_user with its password", False, lambda: connect(app["username"], app["password"], "claims"))
def _master_reads(sql):
    sock = socket.create_connection((gw_host, int(gw_port)), timeout=10)
    conn = pg8000.native.Connection(MASTER, host=ENDPOINT, password=token(MASTER), database="claims",
                                    ssl_context=ssl.create_default_context(cafile=ca), sock=sock, timeout=10)
    try:
        return conn.run(sql)
    finally:
        conn.close()


case("the master user reads the claims (it keeps none of the admin login's privileges)", False,
     lambda: _master_reads("SELECT count(*) FROM claims.claims"))
case("the master user reads the tenant-token keys", False,
     lambda: _master_reads("SELECT count(*) FROM app_private.signing_keys"))
case("the master user with a password (none exists; IAM only)", False, lambda: connect(MASTER, "postgres"))
case("the master user with the Data API login's password", False, lambda: connect(MASTER, admin["password"]))
case("a token for another user, presented as the master user", False, lambda: connect(MASTER, token(admin["username"])))
case("the Data API's login with an IAM token (it is not granted rds_iam)", False, lambda: connect(admin["username"], token(admin["username"])))
case("app_user (NOLOGIN until its password is set; then a password) with a token", False, lambda: connect(app["username"], token(app["username"]), "claims"))
case("a token signed for another host", False, lambda: connect(MASTER, token(MASTER, host="evil.example.com")))
case("a token signed for another port", False, lambda: connect(MASTER, token(MASTER, port=5433)))
past = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=16)
case("a token signed 16 minutes ago (lifetime 15)", False, lambda: connect(MASTER, token(MASTER, at=past)))
forged = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="not-the-secret", region_name="us-east-1")
case("a token signed with the wrong secret key", False, lambda: connect(MASTER, token(MASTER, client=forged.client("rds", endpoint_url=ministack))))
other = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="eu-west-1")
case("a token scoped to another region", False, lambda: connect(MASTER, token(MASTER, client=other.client("rds", endpoint_url=ministack))))
good = token(MASTER)
case("a valid token with its signature altered", False, lambda: connect(MASTER, good[:-4] + ("0000" if not good.endswith("0000") else "1111")))
case("a valid token with DBUser rewritten", False, lambda: connect(admin["username"], good.replace(f"DBUser={MASTER}", f"DBUser={admin['username']}")))


def _untrusted():
    sock = socket.create_connection((gw_host, int(gw_port)), timeout=10)
    conn = pg8000.native.Connection(MASTER, host=ENDPOINT, password=token(MASTER), database="postgres",
                                    ssl_context=ssl.create_default_context(), sock=sock, timeout=10)
    conn.close()
    return MASTER


case("TLS without a certificate the client trusts (system roots only)", False, _untrusted)
case("a certificate for another name (SNI of another host)", False, lambda: connect(MASTER, token(MASTER), sni="other.example.com"))


def _plain():
    with socket.create_connection((gw_host, int(gw_port)), timeout=10) as s:
        body = struct.pack("!i", 196608) + b"user\0" + MASTER.encode() + b"\0database\0postgres\0\0"
        s.sendall(struct.pack("!i", len(body) + 4) + body)
        reply = s.recv(1000)
        if reply[:1] == b"E":
            raise ConnectionRefusedError(reply[5:].split(b"\0M")[-1].split(b"\0")[0].decode())
        return "a plaintext session"


case("a plaintext connection (no SSLRequest)", False, _plain)
if full_env:
    full = rds.describe_db_clusters(DBClusterIdentifier=f"agentcore-mt-{full_env}-t2-claims-db")["DBClusters"][0]
    case("a cluster with the full configuration (in its VPC: no gateway)", False,
         lambda: connect(full["MasterUsername"], token(full["MasterUsername"], host=full["Endpoint"], port=full["Port"]), sni=full["Endpoint"]))

# The control plane: what "Create with express configuration" says cannot be set is refused.
def _express(**extra):
    ident = "agentcore-mt-probe-t2-express"
    try:
        rds.create_db_cluster(DBClusterIdentifier=ident, Engine="aurora-postgresql", WithExpressConfiguration=True, **extra)
    except rds.exceptions.ClientError as e:
        raise RuntimeError(e.response["Error"]["Code"])
    made = rds.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]
    writer = rds.describe_db_instances(DBInstanceIdentifier=f"{ident}-instance-1")["DBInstances"][0]
    for i in made["DBClusterMembers"]:
        rds.delete_db_instance(DBInstanceIdentifier=i["DBInstanceIdentifier"], SkipFinalSnapshot=True)
    return f"made ({made['MasterUsername']}, secret {'MasterUserSecret' in made}, writer {writer['DBInstanceClass']}, VPC {made.get('VPCNetworkingEnabled')})"


case("express configuration with the defaults: cluster and writer, master postgres, no secret", True, _express)
for param, value in [
    ("DBSubnetGroupName", "default"), ("VpcSecurityGroupIds", ["sg-1"]), ("KmsKeyId", "alias/aws/rds"),
    ("EngineVersion", "16.8"), ("ManageMasterUserPassword", True), ("MasterUserPassword", "a-password-1"),
    ("EnableHttpEndpoint", True), ("MasterUserAuthenticationType", "password"),
]:
    case(f"express configuration with {param} (refused: InvalidParameterCombination)", False, lambda: _express(**{param: value}))
    cases[-1]["ok"] = cases[-1]["ok"] and "InvalidParameterCombination" in cases[-1]["got"]
print(json.dumps(cases, indent=1))
