"""The local RDS Data API: the wire protocol of `rds-data` (ExecuteStatement, BatchExecuteStatement,
Begin/Commit/RollbackTransaction) served on 127.0.0.1 over real PostgreSQL servers.

Each Aurora cluster that exists in the emulator (ministack) gets its own PostgreSQL server, created
on first use and removed once the cluster is gone, so roles and databases of two clusters never
meet, as on AWS. The cluster ARN is resolved through the emulator's RDS API (the HTTP endpoint must
be enabled and a writer instance must exist); the secret ARN through its Secrets Manager. The
cluster's master user is created as on Aurora: a login role with CREATEROLE and CREATEDB, not a
superuser. Connections are pooled per (cluster, database, user) and keep their session state
between callers, like the real pool: whatever one caller leaves in a session, the next one sees.

Environment: MINISTACK_URL, DATA_API_PORT, CLUSTERS_DIR, PG_BIN, PG_WRAP (a command prefix, as
root), PG_OWNER (empty or the user owning the data), DATA_API_TX_IDLE_SECONDS (default 180).
"""
import base64
import datetime
import hashlib
import hmac
import decimal
import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import pg8000.native

import local_common as common

MINISTACK = os.environ["MINISTACK_URL"]
PORT = int(os.environ["DATA_API_PORT"])
CLUSTERS_DIR = os.environ["CLUSTERS_DIR"]
PG_BIN = os.environ["PG_BIN"]
# The command PostgreSQL's tools run under as root (a user namespace of their own, or runuser),
# and the user that must own the data directories (runuser only).
WRAP = os.environ.get("PG_WRAP", "").split()
OWNER = os.environ.get("PG_OWNER", "")
# AWS: "A transaction times out if there are no calls that use its transaction ID in three
# minutes" (RDS Data API, "Calling the Data API"). Tests may shorten it.
TX_IDLE_SECONDS = float(os.environ.get("DATA_API_TX_IDLE_SECONDS") or 180)
# Aurora Serverless v2 with MinCapacity 0 pauses after SecondsUntilAutoPause without connections,
# and the first Data API call after that fails with DatabaseResumingException while it resumes
# ("Scaling to Zero ACUs with automatic pause and resume for Aurora Serverless v2", Aurora User
# Guide; the RDS Data API reference lists DatabaseResumingException). Emulated here: idle for
# the cluster's SecondsUntilAutoPause (or DATA_API_PAUSE_AFTER_SECONDS, for tests), then
# DATA_API_RESUME_SECONDS of DatabaseResumingException.
PAUSE_AFTER = os.environ.get("DATA_API_PAUSE_AFTER_SECONDS")
RESUME_SECONDS = float(os.environ.get("DATA_API_RESUME_SECONDS") or 3)
# Where the stand-in of the express configuration's internet access gateway listens
# (db_gateway.py); its CA is written to gateway/ca.pem beside CLUSTERS_DIR.
GATEWAY_PORT = int(os.environ.get("GATEWAY_PORT") or 0)



def _rds():
    return common.client("rds", MINISTACK)


def _secrets():
    return common.client("secretsmanager", MINISTACK)


class ApiError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _pg(tool, *args, check=True):
    cmd = [*WRAP, os.path.join(PG_BIN, tool), *args]
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


class Servers:
    """One PostgreSQL server per cluster, keyed by the cluster's resource id."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ports = {}
        self.last_gc = 0.0

    def port(self, cluster):
        rid = cluster["DbClusterResourceId"]
        with self.lock:
            if rid not in self.ports:
                self.ports[rid] = self._start(rid, cluster)
            return self.ports[rid]

    def data_dir(self, cluster):
        return os.path.join(CLUSTERS_DIR, cluster["DbClusterResourceId"])

    def _start(self, rid, cluster):
        data = os.path.join(CLUSTERS_DIR, rid)
        os.makedirs(data, exist_ok=True)
        if OWNER:
            subprocess.run(["chown", f"{OWNER}:{OWNER}", data], check=True)
        if not os.path.exists(os.path.join(data, "PG_VERSION")):
            _pg("initdb", "-U", "postgres", "-E", "UTF8", "--no-locale", "-A", "scram-sha-256", "--auth-local=trust", "-D", data)
        hba = os.path.join(data, "pg_hba.conf")
        with open(hba, "w") as f:
            # Over the socket (in the 0700 data directory: this process's user alone): the
            # superuser, to create the master user, and the gateway (db_gateway.py), which has
            # checked the IAM token or password itself. Everyone else signs in with a password over
            # loopback TCP, as the Data API does on AWS.
            # Members of rds_iam never with a password (a master user that gave itself one with
            # ALTER ROLE gets nothing by it), as on Aurora.
            f.write("local all all trust\nhost all +rds_iam 127.0.0.1/32 reject\nhost all all 127.0.0.1/32 scram-sha-256\n")
        if OWNER:
            # Written by this process (root), 0600 under main()'s umask: the server's user
            # (runuser) must own it to read it.
            subprocess.run(["chown", f"{OWNER}:{OWNER}", hba], check=True)
        # A server left running by an earlier, failed start.
        _pg("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", check=False)
        log = os.path.join(CLUSTERS_DIR, f"{rid}.log")
        for attempt in range(3):  # a free port may be taken before the server binds it
            port = common.free_port()
            opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c password_encryption=scram-sha-256"
            if _pg("pg_ctl", "-D", data, "-l", log, "-o", opts, "-w", "start", check=False).returncode == 0:
                break
        else:
            raise RuntimeError(f"PostgreSQL for cluster {rid} did not start; see {log}")
        admin = pg8000.native.Connection("postgres", unix_sock=os.path.join(data, f".s.PGSQL.{port}"), database="postgres")
        try:
            # Aurora's role for IAM authentication: its members sign in only with a token.
            admin.run("DO $$ BEGIN CREATE ROLE rds_iam NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
            if cluster.get("InternetAccessGatewayEnabled"):
                # Express configuration: the master user has no password and is granted rds_iam.
                user = cluster["MasterUsername"]
                exists = admin.run("SELECT 1 FROM pg_roles WHERE rolname = :u", u=user)
                verb = "ALTER" if exists else "CREATE"
                admin.run(f'{verb} ROLE "{user}" LOGIN CREATEROLE CREATEDB PASSWORD NULL')
                admin.run(f'GRANT rds_iam TO "{user}"')
            else:
                user, password = _master_credentials(cluster)
                exists = admin.run("SELECT 1 FROM pg_roles WHERE rolname = :u", u=user)
                # DDL takes no parameters: send a SCRAM verifier, never the password itself.
                verb = "ALTER" if exists else "CREATE"
                admin.run(f'{verb} ROLE "{user}" LOGIN CREATEROLE CREATEDB PASSWORD \'{_scram(password)}\'')
            database = cluster.get("DatabaseName") or "postgres"
            if admin.run("SELECT 1 FROM pg_database WHERE datname = :d", d=database):
                pass
            elif database != "postgres":
                admin.run(f'CREATE DATABASE "{database}" OWNER "{user}"')
            else:
                admin.run(f'GRANT CREATE ON DATABASE postgres TO "{user}"')
            # As on Aurora, nobody but the master user may create objects in public.
            admin.run("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        except Exception:
            _pg("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", check=False)
            raise
        finally:
            admin.close()
        return port

    def signs_in(self, cluster, user, password):
        """Whether `password` would sign in as `user` now (checked against the server's stored
        SCRAM verifier, as a new connection would be)."""
        rid = cluster["DbClusterResourceId"]
        port = self.port(cluster)
        data = os.path.join(CLUSTERS_DIR, rid)
        admin = pg8000.native.Connection("postgres", unix_sock=os.path.join(data, f".s.PGSQL.{port}"), database="postgres")
        try:
            rows = admin.run(
                "SELECT rolpassword, rolcanlogin, coalesce(rolvaliduntil > now(), true) FROM pg_authid WHERE rolname = :u",
                u=user,
            )
        finally:
            admin.close()
        if not rows or not rows[0][1] or not rows[0][2] or not rows[0][0]:
            return False
        return _scram_matches(rows[0][0], password)

    def collect_garbage(self):
        """Stops and removes the servers of clusters that no longer exist."""
        now = time.time()
        if now - self.last_gc < 2:
            return
        self.last_gc = now
        # Only servers that ran before the clusters were listed: one started while the list was
        # being read belongs to a cluster the list may be too old to hold.
        with self.lock:
            known = set(self.ports)
        live = {c["DbClusterResourceId"] for c in _rds().describe_db_clusters()["DBClusters"]}
        with self.lock:
            for rid in known - live:
                if rid in self.ports:
                    self._remove(rid)
                    del self.ports[rid]

    def _remove(self, rid):
        data = os.path.join(CLUSTERS_DIR, rid)
        _pg("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(data, ignore_errors=True)
        try:
            os.remove(os.path.join(CLUSTERS_DIR, f"{rid}.log"))
        except OSError:
            pass

    def stop_all(self):
        with self.lock:
            for rid in list(self.ports):
                self._remove(rid)
            self.ports.clear()


SERVERS = Servers()


class AutoPause:
    """Per cluster: last activity, and until when it is resuming."""

    def __init__(self):
        self.lock = threading.Lock()
        self.active = {}
        self.resuming_until = {}

    def check(self, cluster):
        scaling = cluster.get("ServerlessV2ScalingConfiguration") or {}
        rid = cluster["DbClusterResourceId"]
        now = time.monotonic()
        with self.lock:
            until = self.resuming_until.get(rid, 0)
            # Idle since the last call, or since the end of the last resume.
            last = max(self.active.get(rid, now), until)
            pause_after = float(PAUSE_AFTER) if PAUSE_AFTER else scaling.get("SecondsUntilAutoPause")
            paused = scaling.get("MinCapacity") == 0 and pause_after and now - last >= float(pause_after)
            if paused and now >= until and not POOL.has_transactions(rid):
                until = self.resuming_until[rid] = now + RESUME_SECONDS
            self.active[rid] = max(now, until)
        if now < until:
            raise ApiError("DatabaseResumingException", f"The Aurora DB instance {cluster['DBClusterIdentifier']} is resuming after being auto-paused. Please wait a few seconds and try again.")


AUTO_PAUSE = AutoPause()


def _scram(password):
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()
    return f"SCRAM-SHA-256$4096:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


_verified = {}


def _scram_matches(verifier, password):
    """Whether `password` matches a stored `SCRAM-SHA-256$iter:salt$StoredKey:ServerKey`."""
    hit = _verified.get((verifier, password))
    if hit is not None:
        return hit
    try:
        head, keys = verifier.split("$", 1)[1].split("$")
        iterations, salt = head.split(":")
        stored = keys.split(":")[0]
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        ok = hmac.compare_digest(base64.b64encode(hashlib.sha256(client_key).digest()).decode(), stored)
    except (ValueError, IndexError):
        ok = False
    _verified[(verifier, password)] = ok
    return ok


def _master_credentials(cluster):
    secret = cluster.get("MasterUserSecret") or {}
    if secret.get("SecretArn"):
        value = json.loads(_secrets().get_secret_value(SecretId=secret["SecretArn"])["SecretString"])
        return value["username"], value["password"]
    raise ApiError("BadRequestException", "the local Data API needs clusters created with ManageMasterUserPassword")


def _cluster(arn):
    cluster_id = arn.rsplit(":", 1)[-1]
    try:
        cluster = _rds().describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    except Exception:
        raise ApiError("BadRequestException", f"Cluster {arn} not found", 400)
    if cluster.get("DBClusterArn") != arn:
        raise ApiError("BadRequestException", f"Cluster {arn} not found", 400)
    if not cluster.get("HttpEndpointEnabled"):
        raise ApiError("HttpEndpointNotEnabledException", f"HttpEndpoint is not enabled for cluster {cluster_id}.")
    members = [m for m in cluster.get("DBClusterMembers", []) if m.get("IsClusterWriter")]
    if not members:
        instances = _rds().describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}])["DBInstances"]
        if not instances:
            raise ApiError("DatabaseUnavailableException", "The database has no writer instance yet.", 504)
    return cluster


def _credentials(secret_arn):
    try:
        value = json.loads(_secrets().get_secret_value(SecretId=secret_arn)["SecretString"])
        return value["username"], value["password"]
    except Exception as e:
        raise ApiError("BadRequestException", f"Error fetching secret {secret_arn} : {type(e).__name__}")


class Pool:
    def __init__(self):
        self.lock = threading.Lock()
        self.idle = {}
        self.transactions = {}

    def take(self, cluster, database, user, password):
        key = (cluster["DbClusterResourceId"], database, user)
        while True:
            with self.lock:
                idle = self.idle.get(key, [])
                candidate = idle.pop() if idle else None
            if candidate is None:
                break
            conn, pw = candidate
            # A pooled connection is reused only while the secret's password still signs in: a
            # role that changed its own password (or lost LOGIN) must not keep working through
            # the pool. Then every pooled connection of that role goes.
            if pw == password and SERVERS.signs_in(cluster, user, password):
                return key, conn
            conn.close()
            if pw == password:
                with self.lock:
                    stale = self.idle.pop(key, [])
                for c, _ in stale:
                    c.close()
        port = SERVERS.port(cluster)
        try:
            conn = pg8000.native.Connection(user, password=password, host="127.0.0.1", port=port, database=database)
        except pg8000.native.DatabaseError as e:
            raise ApiError("BadRequestException", _pg_message(e))
        return key, conn

    def give_back(self, key, conn, password):
        with self.lock:
            self.idle.setdefault(key, []).append((conn, password))

    def begin(self, cluster, database, user, password, owner):
        """`owner` is (cluster ARN, secret ARN): only the caller that began a transaction may use
        it. On AWS the transaction id is tied to the cluster and credentials that began it."""
        key, conn = self.take(cluster, database, user, password)
        conn.run("BEGIN")
        tid = base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()
        with self.lock:
            self.transactions[tid] = Transaction(key, conn, password, owner)
        return tid

    def has_transactions(self, rid):
        with self.lock:
            return any(t.key[0] == rid for t in self.transactions.values())

    def transaction(self, tid, owner):
        with self.lock:
            t = self.transactions.get(tid)
        # Another cluster's or secret's transaction is answered as an unknown one: a transaction
        # id must not be usable, nor confirmable, by anyone but its owner.
        if not t or t.owner != owner:
            raise ApiError("NotFoundException", f"Transaction {tid} is not found", 404)
        t.used = time.monotonic()
        return t

    def end(self, tid, owner, commit):
        t = self.transaction(tid, owner)
        with t.lock:
            with self.lock:
                if self.transactions.pop(tid, None) is None:
                    raise ApiError("NotFoundException", f"Transaction {tid} is not found", 404)
            failed = t.failed
            try:
                # PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK, not an error.
                t.conn.run("COMMIT" if commit and not failed else "ROLLBACK")
            finally:
                self.give_back(t.key, t.conn, t.password)
        if commit and failed:
            raise ApiError("BadRequestException", f"Transaction {tid} was rolled back, not committed: a statement in it failed")

    def expire_idle(self, idle_seconds):
        """Rolls back transactions nobody used for `idle_seconds` (AWS: three minutes)."""
        now = time.monotonic()
        with self.lock:
            # A transaction running a statement is not idle, however long the statement takes.
            stale = [(tid, t) for tid, t in self.transactions.items() if now - t.used > idle_seconds and not t.lock.locked()]
            for tid, _ in stale:
                del self.transactions[tid]
        for _, t in stale:
            with t.lock:
                try:
                    t.conn.run("ROLLBACK")
                    self.give_back(t.key, t.conn, t.password)
                except Exception:
                    t.conn.close()


class Transaction:
    def __init__(self, key, conn, password, owner):
        self.key, self.conn, self.password, self.owner = key, conn, password, owner
        self.lock = threading.Lock()
        self.used = time.monotonic()
        self.failed = False


POOL = Pool()


def _pg_message(e):
    info = e.args[0] if e.args and isinstance(e.args[0], dict) else {}
    if info:
        return f"ERROR: {info.get('M', '')}; SQLState: {info.get('C', '')}"
    return f"ERROR: {e}"


def _param_value(p):
    v = p.get("value", {})
    if v.get("isNull"):
        return None
    for k in ("stringValue", "longValue", "doubleValue", "booleanValue"):
        if k in v:
            return v[k]
    if "blobValue" in v:
        return base64.b64decode(v["blobValue"])
    raise ApiError("BadRequestException", f"unsupported parameter value {v}")


def _cast(p):
    hint = p.get("typeHint")
    return {"DATE": "date", "TIME": "time", "TIMESTAMP": "timestamp", "DECIMAL": "numeric", "UUID": "uuid", "JSON": "jsonb"}.get(hint)


def _prepare(sql, parameters):
    """Data API named parameters (:name) with their type hints, for pg8000's native API."""
    params = {}
    for p in parameters or []:
        name = p["name"]
        params[name] = _param_value(p)
        cast = _cast(p)
        if cast:
            sql = _replace_param(sql, name, f"CAST(:{name} AS {cast})")
    return sql, params


def _replace_param(sql, name, replacement):
    out, i, quote = [], 0, None
    while i < len(sql):
        c = sql[i]
        if quote:
            out.append(c)
            if c == quote:
                quote = None
            i += 1
            continue
        if c in "'\"":
            quote = c
        if c == ":" and sql[i + 1:i + 1 + len(name)] == name and (i == 0 or sql[i - 1] != ":"):
            end = i + 1 + len(name)
            if end == len(sql) or not (sql[end].isalnum() or sql[end] == "_"):
                out.append(replacement)
                i = end
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _field(value):
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"blobValue": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list):
        return {"arrayValue": {"stringValues": [str(v) for v in value]}}
    return {"stringValue": _text(value)}


def _text(value):
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".")
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _json_value(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dict, list)):
        return value
    return _text(value)


def _run(conn, sql, parameters):
    sql, params = _prepare(sql, parameters)
    try:
        rows = conn.run(sql, **params)
    except pg8000.native.DatabaseError as e:
        raise ApiError("DatabaseErrorException", _pg_message(e))
    return rows, conn.columns or [], conn.row_count


def execute(body, batch=False):
    cluster = _cluster(body["resourceArn"])
    if not body.get("transactionId"):  # an open transaction keeps the cluster from pausing
        AUTO_PAUSE.check(cluster)
    user, password = _credentials(body["secretArn"])
    database = body.get("database") or cluster.get("DatabaseName") or "postgres"
    tid = body.get("transactionId")
    parameter_sets = body.get("parameterSets") if batch else [body.get("parameters")]
    results = []

    def run_all(conn):
        for params in parameter_sets or [[]]:
            results.append(_run(conn, body["sql"], params))

    if tid:
        t = POOL.transaction(tid, (body["resourceArn"], body["secretArn"]))
        with t.lock:
            try:
                run_all(t.conn)
            except ApiError:
                t.failed = True
                raise
            finally:
                t.used = time.monotonic()
    else:
        key, conn = POOL.take(cluster, database, user, password)
        try:
            run_all(conn)
        finally:
            POOL.give_back(key, conn, password)
    if batch:
        return {"updateResults": [{"generatedFields": []} for _ in results]}
    rows, columns, count = results[0]
    out = {"numberOfRecordsUpdated": 0 if columns else max(count, 0), "generatedFields": []}
    names = [c["name"] for c in columns]
    if body.get("formatRecordsAs") == "JSON":
        out["formattedRecords"] = json.dumps([{n: _json_value(v) for n, v in zip(names, row)} for row in rows or []])
    elif columns:
        out["records"] = [[_field(v) for v in row] for row in rows or []]
    if body.get("includeResultMetadata"):
        out["columnMetadata"] = [{"name": n, "label": n, "typeName": str(c.get("type_oid", ""))} for n, c in zip(names, columns)]
    return out


def handle(path, body):
    SERVERS.collect_garbage()
    if path == "/Execute":
        return execute(body)
    if path == "/BatchExecute":
        return execute(body, batch=True)
    if path == "/BeginTransaction":
        cluster = _cluster(body["resourceArn"])
        AUTO_PAUSE.check(cluster)
        user, password = _credentials(body["secretArn"])
        database = body.get("database") or cluster.get("DatabaseName") or "postgres"
        owner = (body["resourceArn"], body["secretArn"])
        return {"transactionId": POOL.begin(cluster, database, user, password, owner)}
    if path == "/CommitTransaction":
        POOL.end(body["transactionId"], (body.get("resourceArn"), body.get("secretArn")), commit=True)
        return {"transactionStatus": "Transaction Committed"}
    if path == "/RollbackTransaction":
        POOL.end(body["transactionId"], (body.get("resourceArn"), body.get("secretArn")), commit=False)
        return {"transactionStatus": "Rollback Complete"}
    raise ApiError("UnknownOperationException", f"unknown operation {path}", 404)


class Handler(common.JsonHandler):
    protocol_version = "HTTP/1.1"
    # Only SigV4-signed JSON (the SDKs' rest-json), never a page's text/plain POST: see
    # `local_common.refusal`.
    part = "data-api"
    json_body = True

    def log_message(self, fmt, *args):  # requests carry SQL parameters: never log them
        pass

    def do_GET(self):
        if self.refused():
            return
        self.reply(200, {"status": "ok"})

    def do_POST(self):
        if self.refused():
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        try:
            self.reply(200, handle(self.path.split("?")[0], body))
        except ApiError as e:
            self.reply(e.status, {"message": e.message}, e.code)
        except Exception as e:  # a bug here must not look like a database answer
            # A 400, not a 500: a fault of the local stand-in must surface at once, not be retried.
            self.reply(400, {"message": f"local Data API internal error: {type(e).__name__}: {e}"}, "BadRequestException")


def main():
    # Everything this process writes (pg_hba.conf among it) is its own user's alone: the clusters
    # hold data and password verifiers. PostgreSQL's tools run under PG_WRAP with this umask too
    # (its data directories are 0700 anyway); CLUSTERS_DIR itself was made, and given to PG_OWNER,
    # before this process started (`Postgres::prepare`), and each cluster's directory is chowned
    # to PG_OWNER here, so the server's user still reaches what it needs.
    os.umask(0o077)
    os.makedirs(CLUSTERS_DIR, exist_ok=True)

    def expire():
        POOL.expire_idle(TX_IDLE_SECONDS)
        # A destroyed cluster's server stops even when no statement follows the destroy.
        SERVERS.collect_garbage()

    if GATEWAY_PORT:
        import db_gateway

        db_gateway.Gateway(
            GATEWAY_PORT, SERVERS, lambda: _rds().describe_db_clusters()["DBClusters"], common.REGION,
            os.path.join(os.path.dirname(CLUSTERS_DIR), "gateway"),
        ).serve_in_background()
    common.serve(PORT, Handler, expire, min(5.0, TX_IDLE_SECONDS / 4), SERVERS.stop_all)


if __name__ == "__main__":
    main()
