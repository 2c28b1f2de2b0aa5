"""The Data API's admin login on an express cluster changes its own password (PostgreSQL lets any
role do that): afterwards its secret no longer signs in. Prints {"done": true} once it is so.

usage: express_drift.py MINISTACK_URL DATA_API_URL ENV
"""
import json
import sys

import boto3

ministack, data_api, env = sys.argv[1:4]
session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
rds = session.client("rds", endpoint_url=ministack)
sm = session.client("secretsmanager", endpoint_url=ministack)
data = session.client("rds-data", endpoint_url=data_api)
cluster = rds.describe_db_clusters(DBClusterIdentifier=f"agentcore-mt-{env}-t2-claims-db-express")["DBClusters"][0]
secret = sm.describe_secret(SecretId=f"agentcore-mt/{env}/t2/db-admin-login")["ARN"]
run = lambda sql: data.execute_statement(resourceArn=cluster["DBClusterArn"], secretArn=secret, database="postgres", sql=sql)
run("ALTER ROLE CURRENT_USER PASSWORD 'changed-by-the-login-itself-1'")
try:
    run("SELECT 1")
    print(json.dumps({"done": False}))
except data.exceptions.ClientError:
    print(json.dumps({"done": True}))
