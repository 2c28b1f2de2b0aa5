"""The local stand-in for Aurora's internet access gateway (express configuration): PostgreSQL's
wire protocol on 127.0.0.1, TLS required, routed by the TLS server name (the cluster's endpoint)
to that cluster's PostgreSQL server (data_api.Servers), with RDS IAM authentication.

What it enforces, as the Aurora User Guide documents it:
- Only clusters created with express configuration are reachable ("Create with express
  configuration": the internet access gateway; a cluster in a VPC has no such path).
- TLS: the client's first message must be SSLRequest. The certificate is issued for the endpoint
  by a CA of the local cloud (`ca.pem` here); on AWS the gateway "uses the AWS root certificates
  (ACM root CAs)".
- IAM authentication only: "You can only use RDS IAM authentication with the internet access
  gateway" ("Create with express configuration", Limitations), so a password signs nobody in
  through it (password users reach the database through the Data API alone), and a token only
  a user granted `rds_iam`, as the express master user is ("the required setup for the database
  administrator user, including granting the rds_iam role, is automatically managed for you").
- A token is a SigV4-presigned `connect` request for `<endpoint>:<port>` and the user
  (`Action=connect&DBUser=...`, service `rds-db`), valid 15 minutes at most ("Connecting to your
  DB cluster using IAM authentication"). Checked here: the signature (with the local cloud's
  static credentials, `test`/`test`), the region, the host and port, the user, the expiry.

After sign-in the client talks to the cluster's server directly (its bytes are passed through).
"""
import datetime
import hashlib
import hmac
import os
import select
import socket
import ssl
import struct
import threading
import urllib.parse

import pg8000.native

SSL_REQUEST = 80877103
PROTOCOL_3 = 196608
CREDENTIALS = {"test": "test"}  # the local cloud's static credentials (access key -> secret)
MAX_EXPIRES = 900


def _error(code, message):
    fields = b"SFATAL\0VFATAL\0C" + code.encode() + b"\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!i", len(fields) + 4) + fields


def _read_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def check_token(token, user, endpoint, port, region, now=None):
    """None if `token` lets `user` connect to `endpoint:port`; else why not."""
    hostport, sep, query = token.partition("/?")
    if not sep:
        return "not an IAM authentication token"
    params = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=False)
    values = dict(params)
    if len(values) != len(params):
        return "a parameter is repeated"
    if values.get("Action") != "connect" or values.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        return "not a connect request signed with AWS4-HMAC-SHA256"
    if values.get("DBUser") != user:
        return f"the token is for user {values.get('DBUser')!r}, not {user!r}"
    if hostport != f"{endpoint}:{port}":
        return f"the token is for {hostport}, not {endpoint}:{port}"
    if values.get("X-Amz-SignedHeaders") != "host":
        return "only the host header may be signed"
    try:
        key_id, date, token_region, service, term = values["X-Amz-Credential"].split("/")
        signed_at = datetime.datetime.strptime(values["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        expires = int(values["X-Amz-Expires"])
        signature = values["X-Amz-Signature"]
    except (KeyError, ValueError):
        return "the token lacks a credential, date, expiry or signature"
    if service != "rds-db" or term != "aws4_request" or token_region != region or date != values["X-Amz-Date"][:8]:
        return f"the token is scoped to {token_region}/{service}, not {region}/rds-db"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not 0 < expires <= MAX_EXPIRES:
        return f"X-Amz-Expires {expires} is outside 1..{MAX_EXPIRES}"
    if signed_at > now + datetime.timedelta(minutes=5):
        return "the token is signed in the future"
    if now > signed_at + datetime.timedelta(seconds=expires):
        return "the token has expired"
    secret = CREDENTIALS.get(key_id)
    if secret is None:
        return "the token's access key is not known"
    enc = lambda s: urllib.parse.quote(s, safe="-_.~")
    canonical_query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params) if k != "X-Amz-Signature")
    key = _sign(_sign(_sign(_sign(("AWS4" + secret).encode(), date), region), "rds-db"), "aws4_request")
    # Signers differ in the payload line of a presigned request: the hash of the empty body
    # (the Rust SDK), or UNSIGNED-PAYLOAD (botocore). Either is a signature by the key's holder.
    for payload in (hashlib.sha256(b"").hexdigest(), "UNSIGNED-PAYLOAD"):
        canonical = "\n".join(["GET", "/", canonical_query, f"host:{hostport}", "", "host", payload])
        to_sign = "\n".join([
            "AWS4-HMAC-SHA256", values["X-Amz-Date"], f"{date}/{region}/rds-db/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ])
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, signature):
            return None
    return "the signature does not match"


class Certificates:
    """A CA of the local cloud and a leaf certificate per endpoint name, made on first use."""

    def __init__(self, directory):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.x509, self.hashes, self.serialization, self.ec, self.NameOID = x509, hashes, serialization, ec, NameOID
        self.dir = directory
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.ca_file = os.path.join(directory, "ca.pem")
        key_file = os.path.join(directory, "ca-key.pem")
        if os.path.exists(self.ca_file) and os.path.exists(key_file):
            self.ca_key = serialization.load_pem_private_key(open(key_file, "rb").read(), None)
            self.ca_cert = x509.load_pem_x509_certificate(open(self.ca_file, "rb").read())
        else:
            self.ca_key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agentcore-mt local RDS gateway CA")])
            now = datetime.datetime.now(datetime.timezone.utc)
            self.ca_cert = (
                x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                .sign(self.ca_key, hashes.SHA256())
            )
            with open(key_file, "wb") as f:
                f.write(self.ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            with open(self.ca_file, "wb") as f:
                f.write(self.ca_cert.public_bytes(serialization.Encoding.PEM))
        self.contexts = {}
        self.lock = threading.Lock()

    def context(self, hostname):
        with self.lock:
            if hostname not in self.contexts:
                self.contexts[hostname] = self._leaf(hostname)
            return self.contexts[hostname]

    def _leaf(self, hostname):
        x509, s = self.x509, self.serialization
        key = self.ec.generate_private_key(self.ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(self.NameOID.COMMON_NAME, hostname[:64])]))
            .issuer_name(self.ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.ca_key, self.hashes.SHA256())
        )
        safe = hashlib.sha256(hostname.encode()).hexdigest()[:16]
        path = os.path.join(self.dir, f"leaf-{safe}.pem")
        with open(path, "wb") as f:
            f.write(key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
            f.write(cert.public_bytes(s.Encoding.PEM))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(path)
        return ctx


class Gateway:
    """`servers` is data_api's Servers; `clusters()` lists the emulator's DB clusters."""

    def __init__(self, port, servers, clusters, region, cert_dir):
        self.port, self.servers, self.clusters, self.region = port, servers, clusters, region
        self.certs = Certificates(cert_dir)

    def serve_in_background(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)

        def accept():
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()

    def _serve(self, conn):
        try:
            self._session(conn)
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _express(self, name):
        """The one available express cluster answering to `name`, or None (a name two clusters
        answer to routes to neither)."""
        named = [c for c in self.clusters() if c.get("Endpoint") == name and c.get("InternetAccessGatewayEnabled")]
        cluster = named[0] if len(named) == 1 else None
        if cluster is None or cluster.get("Status") not in ("available", "modifying", "backing-up"):
            return None
        return cluster

    def _session(self, raw):
        # Until signed in, a client has 30 s (then the session is the database's).
        raw.settimeout(30)
        length, code = struct.unpack("!ii", _read_exact(raw, 8))
        if length != 8 or code != SSL_REQUEST:
            raw.sendall(_error("28000", "connections through the internet access gateway must use TLS"))
            return
        raw.sendall(b"S")
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.minimum_version = ssl.TLSVersion.TLSv1_2
        names = {}

        def pick(sock, name, _ctx):
            # A certificate only for an express cluster's endpoint (none minted for any name).
            if not name or self._express(name) is None:
                return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
            names["sni"] = name
            sock.context = self.certs.context(name)
            return None

        server.sni_callback = pick
        client = server.wrap_socket(raw, server_side=True)
        length = struct.unpack("!i", _read_exact(client, 4))[0]
        if not 8 <= length <= 10000:
            return
        body = _read_exact(client, length - 4)
        if struct.unpack("!i", body[:4])[0] != PROTOCOL_3:
            client.sendall(_error("08P01", "unsupported protocol"))
            return
        parts = body[4:].split(b"\0")
        params = dict(zip(parts[0::2], parts[1::2]))
        user = params.get(b"user", b"").decode()
        cluster = self._express(names.get("sni"))
        if cluster is None:
            client.sendall(_error("08001", f"no available cluster with express configuration at {names.get('sni')}"))
            return
        if not 0 < len(user.encode()) <= 63:
            # PostgreSQL cuts names at 63 bytes: a token for a longer one must not sign in as its prefix.
            client.sendall(_error("28000", f'PAM authentication failed for user "{user}"'))
            return
        client.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind, size = struct.unpack("!ci", _read_exact(client, 5))
        if kind != b"p" or not 5 <= size <= 10000:
            return
        secret = _read_exact(client, size - 4).rstrip(b"\0").decode(errors="replace")
        # The token first (pure computation): nothing of the cluster's server is started or
        # asked for a client without one.
        why = check_token(secret, user, cluster["Endpoint"], cluster.get("Port", 5432), self.region) if "Action=connect" in secret else "not an IAM authentication token"
        if why is not None:
            client.sendall(_error("28000", f'PAM authentication failed for user "{user}": the internet access gateway accepts only valid IAM authentication tokens'))
            print(f"gateway: sign-in of {user!r} refused: {why}", flush=True)
            return
        port = self.servers.port(cluster)
        data = self.servers.data_dir(cluster)
        socket_path = os.path.join(data, f".s.PGSQL.{port}")
        admin = pg8000.native.Connection("postgres", unix_sock=socket_path, database="postgres")
        try:
            iam_user = bool(admin.run(
                "SELECT 1 FROM pg_roles r WHERE r.rolname = :u AND pg_has_role(r.oid, 'rds_iam', 'member')", u=user
            ))
        finally:
            admin.close()
        if not iam_user:
            client.sendall(_error("28000", f'PAM authentication failed for user "{user}"'))
            print(f"gateway: sign-in of {user!r} refused: the user is not granted rds_iam", flush=True)
            return
        client.settimeout(None)
        backend = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        backend.connect(socket_path)
        backend.sendall(struct.pack("!i", length) + body)
        _splice(client, backend)


def _splice(client, backend):
    """Passes bytes both ways until either side closes; one thread, so that the TLS socket is
    never read and written at once."""
    while True:
        ready = [client] if client.pending() else select.select([client, backend], [], [])[0]
        for src, dst in ((client, backend), (backend, client)):
            if src in ready:
                chunk = src.recv(65536)
                if not chunk:
                    backend.close()
                    return
                dst.sendall(chunk)
