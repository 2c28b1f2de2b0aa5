"""The claims database through the RDS Data API, as the non-superuser `app_user`, calling only
the parameterized functions of schema `api`. Every call runs in its own transaction under a
token signed for one subject and bound to that transaction; the database verifies it and
Row-Level Security keeps the transaction to that subject's tenant (sql/004, sql/007)."""
import hashlib
import hmac
import json
import os
import time

from botocore.exceptions import ClientError

from . import aws

# A token outlives its transaction by little: it is bound to the transaction id anyway.
TOKEN_SECONDS = 60
# How long a caller waits for an auto-paused cluster to resume before it gives up.
RESUME_SECONDS = 60


class Database:
    """The claims database for one subject, through the Data API: a caller's `sub` (the claims
    agent, key `tenant_token`: the database maps the sub to its tenant) or `tenant:<id>` (the
    gateway's tools, key `tool_token`)."""

    def __init__(self, subject, key_name, client=None, env=os.environ):
        if not subject or "." in subject:
            raise ValueError("a token subject is non-empty and has no '.'")
        self.sub = subject
        self.key_name = key_name
        self.client = client or aws.client("rds-data")
        self.cluster = env["CLUSTER_ARN"]
        self.secret = env["APP_USER_SECRET_ARN"]
        self.key_secret = env["TOKEN_KEY_SECRET_ARN"]
        self.database = env["DATABASE_NAME"]
        self._key = None

    def key(self):
        if self._key is None:
            secrets = aws.client("secretsmanager")
            value = secrets.get_secret_value(SecretId=self.key_secret)["SecretString"]
            self._key = json.loads(value)[self.key_name].encode()
        return self._key

    def _execute(self, sql, params=(), tx=None):
        kwargs = dict(resourceArn=self.cluster, secretArn=self.secret, database=self.database, sql=sql)
        if params:
            kwargs["parameters"] = list(params)
        if tx:
            kwargs["transactionId"] = tx
        return self.client.execute_statement(**kwargs).get("records", [])

    def begin(self):
        """BeginTransaction, waiting while an auto-paused cluster resumes (minimum capacity 0:
        the first call after a pause gets DatabaseResumingException for up to about 15 s)."""
        delay, deadline = 0.5, time.monotonic() + RESUME_SECONDS
        while True:
            try:
                return self.client.begin_transaction(resourceArn=self.cluster, secretArn=self.secret, database=self.database)[
                    "transactionId"
                ]
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") != "DatabaseResumingException" or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def call(self, sql, params=()):
        """Runs one `api.*` call in its own transaction, under a token for this caller."""
        tx = self.begin()
        committed = False
        try:
            txid = self._execute("SELECT pg_current_xact_id()::text", tx=tx)[0][0]["stringValue"]
            message = f"{self.sub}.{txid}.{int(time.time()) + TOKEN_SECONDS}"
            token = message + "." + hmac.new(self.key(), message.encode(), hashlib.sha256).hexdigest()
            self._execute(
                "SELECT set_config('app.tenant_token', :token, true)",
                [{"name": "token", "value": {"stringValue": token}}],
                tx=tx,
            )
            tenant = self._execute("SELECT api.current_tenant()", tx=tx)[0][0]
            rows = self._execute(sql, params, tx=tx)
            self.client.commit_transaction(resourceArn=self.cluster, secretArn=self.secret, transactionId=tx)
            committed = True
            return tenant.get("stringValue"), [[value(field) for field in row] for row in rows]
        finally:
            if not committed:
                try:
                    self.client.rollback_transaction(resourceArn=self.cluster, secretArn=self.secret, transactionId=tx)
                except Exception:  # the transaction may already be gone; the original error matters
                    pass


def value(field):
    if field.get("isNull"):
        return None
    for kind in ("stringValue", "longValue", "doubleValue", "booleanValue"):
        if kind in field:
            return field[kind]
    return str(field)
