"""RLS benchmark: a tenant's typical queries through the Row-Level Security path (app_user, signed
tenant token, SECURITY DEFINER functions, policies) against the same queries with an explicit
`WHERE tenant_id = ...` as the superuser, on 1,000,000 claims over 1,000 tenants.

Talks to the cluster's local PostgreSQL server directly (not through the Data API, whose HTTP hop
would add the same cost to both sides and hide the difference). Prints one JSON document.

usage: rls_bench.py MINISTACK_URL CLUSTERS_DIR ENV [ROWS] [TENANTS] [REPEAT]
"""
import hashlib
import hmac
import json
import os
import statistics
import sys
import time

import boto3
import pg8000.native

ministack, clusters_dir, env = sys.argv[1], sys.argv[2], sys.argv[3]
ROWS = int(sys.argv[4]) if len(sys.argv) > 4 else 1_000_000
TENANTS = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
REPEAT = int(sys.argv[6]) if len(sys.argv) > 6 else 30

session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
rds = session.client("rds", endpoint_url=ministack)
sm = session.client("secretsmanager", endpoint_url=ministack)
cluster = rds.describe_db_clusters(DBClusterIdentifier=f"agentcore-mt-{env}-t2-claims-db")["DBClusters"][0]
data_dir = os.path.join(clusters_dir, cluster["DbClusterResourceId"])
port = open(os.path.join(data_dir, "postmaster.pid")).read().split("\n")[3].strip()
app = json.loads(sm.get_secret_value(SecretId=f"agentcore-mt/{env}/t2/app-user-login")["SecretString"])
key = json.loads(sm.get_secret_value(SecretId=f"agentcore-mt/{env}/t2/tenant-token-key")["SecretString"])["tenant_token"]

root = pg8000.native.Connection("postgres", unix_sock=os.path.join(data_dir, f".s.PGSQL.{port}"), database="claims")
loaded = root.run("SELECT count(*) FROM claims.claims")[0][0]
if loaded < ROWS:
    t0 = time.perf_counter()
    root.run("INSERT INTO claims.tenants SELECT 't-' || lpad(i::text, 4, '0'), 'Tenant ' || i FROM generate_series(1, :n) i ON CONFLICT DO NOTHING", n=TENANTS)
    root.run("INSERT INTO claims.user_tenants SELECT 'sub-' || i, 't-' || lpad(i::text, 4, '0') FROM generate_series(1, :n) i ON CONFLICT DO NOTHING", n=TENANTS)
    root.run("""INSERT INTO claims.claims (tenant_id, claim_number, customer_name, policy_type, claim_amount, status, filed_at)
                SELECT 't-' || lpad((1 + i % :t)::text, 4, '0'), 'CLM-' || i, 'Customer ' || i,
                       (ARRAY['auto','home','life','travel'])[1 + i % 4], (i % 50000) / 3.0,
                       (ARRAY['submitted','in_review','approved','denied','paid'])[1 + i % 5],
                       now() - (i % 365) * interval '1 day'
                FROM generate_series(1, :n) i""", t=TENANTS, n=ROWS - loaded)
    root.run("ANALYZE claims.claims")
    load_seconds = time.perf_counter() - t0
else:
    load_seconds = 0.0

app_conn = pg8000.native.Connection(app["username"], password=app["password"], host="127.0.0.1", port=int(port), database="claims")
TENANT, SUB = "t-0042", "sub-42"

QUERIES = {
    "list claims": (
        "SELECT * FROM api.list_claims()",
        "SELECT c.claim_number, c.customer_name, c.policy_type, c.claim_amount, c.status, c.filed_at FROM claims.claims c WHERE c.tenant_id = :tenant ORDER BY c.filed_at DESC, c.claim_number",
    ),
    "count claims filed last week": (
        "SELECT api.count_claims(now() - interval '7 days', now())",
        "SELECT count(*) FROM claims.claims c WHERE c.tenant_id = :tenant AND c.filed_at >= now() - interval '7 days' AND c.filed_at < now()",
    ),
    "claim by number": (
        "SELECT * FROM api.claim_by_number('CLM-41')",
        "SELECT c.claim_number, c.customer_name, c.policy_type, c.claim_amount, c.status, c.filed_at, c.description FROM claims.claims c WHERE c.tenant_id = :tenant AND c.claim_number = 'CLM-41'",
    ),
    "totals by status": (
        "SELECT * FROM api.totals_by_status()",
        "SELECT c.status, count(*), sum(c.claim_amount) FROM claims.claims c WHERE c.tenant_id = :tenant GROUP BY c.status ORDER BY c.status",
    ),
}


def rls_once(sql):
    app_conn.run("BEGIN")
    xid = app_conn.run("SELECT pg_current_xact_id()::text")[0][0]
    msg = f"{SUB}.{xid}.{int(time.time()) + 60}"
    app_conn.run("SELECT set_config('app.tenant_token', :t, true)", t=msg + "." + hmac.new(key.encode(), msg.encode(), hashlib.sha256).hexdigest())
    t0 = time.perf_counter()
    rows = app_conn.run(sql)
    q = time.perf_counter() - t0
    app_conn.run("COMMIT")
    return q, len(rows)


def direct_once(sql):
    root.run("BEGIN")
    t0 = time.perf_counter()
    rows = root.run(sql, tenant=TENANT)
    q = time.perf_counter() - t0
    root.run("COMMIT")
    return q, len(rows)


results = {}
for name, (rls_sql, direct_sql) in QUERIES.items():
    for _ in range(3):  # warm the caches of both
        rls_once(rls_sql)
        direct_once(direct_sql)
    rls, direct = [], []
    for _ in range(REPEAT):  # interleaved, so that machine noise falls on both alike
        q, n_rls = rls_once(rls_sql)
        rls.append(q)
        q, n_direct = direct_once(direct_sql)
        direct.append(q)
    results[name] = {
        "rows": [n_rls, n_direct],
        "rls_ms": round(statistics.median(rls) * 1000, 3),
        "direct_ms": round(statistics.median(direct) * 1000, 3),
        "ratio": round(statistics.median(rls) / statistics.median(direct), 3),
    }

# The plan the policy produces, as the functions' role sees it: the tenant check is an InitPlan
# (once per statement), and the index on tenant_id is used.
root.run("BEGIN")
root.run("SET LOCAL ROLE claims_api")
xid = root.run("SELECT pg_current_xact_id()::text")[0][0]
msg = f"{SUB}.{xid}.{int(time.time()) + 60}"
root.run("SELECT set_config('app.tenant_token', :t, true)", t=msg + "." + hmac.new(key.encode(), msg.encode(), hashlib.sha256).hexdigest())
plan = [r[0] for r in root.run("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM claims.claims c WHERE c.filed_at >= now() - interval '7 days'")]
root.run("ROLLBACK")

print(json.dumps({"rows": ROWS, "tenants": TENANTS, "repeat": REPEAT, "load_seconds": round(load_seconds, 1), "queries": results, "plan": plan}))
