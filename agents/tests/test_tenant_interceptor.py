"""The gateway's REQUEST interceptor (tutorial 4): whatever the call says, the only tenant that
can leave it valid is the one of the verified access token; everything that is not a tool call
passes unchanged. Tokens are signed here with `cryptography` (a well-kept implementation), so the
interceptor's own RS256 check is tested against signatures it did not make."""
import base64
import copy
import importlib.util
import json
import os
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HERE = os.path.dirname(__file__)
spec = importlib.util.spec_from_file_location(
    "tenant_interceptor", os.path.join(HERE, "..", "tools", "interceptor", "tenant_interceptor.py"))
interceptor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(interceptor)

MISMATCH = interceptor.MISMATCH
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool"
ENV = {"AUTH_ISSUER": ISSUER, "AUTH_ALLOWED_CLIENTS": "app-client, web-client"}
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwk(key, kid):
    numbers = key.public_key().public_numbers()
    def whole(i):
        return b64(i.to_bytes((i.bit_length() + 7) // 8, "big"))
    return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": whole(numbers.n), "e": whole(numbers.e)}


def keys(*jwks):
    fetched = []

    def fetch(url):
        fetched.append(url)
        return {"keys": list(jwks)}
    k = interceptor.Keys("https://example.invalid/jwks.json", fetch=fetch)
    k.fetched = fetched
    return k


POOL = keys(jwk(KEY, "k1"))


def token(claims=None, key=KEY, kid="k1", alg="RS256", **override):
    now = int(time.time())
    body = {"sub": "s-1", "iss": ISSUER, "client_id": "app-client", "token_use": "access",
            "exp": now + 600, "iat": now, "tenant_id": "broker-a"}
    body.update(claims or {})
    for name, value in override.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    head = b64(json.dumps({"alg": alg, "kid": kid}).encode()) + "." + b64(json.dumps(body).encode())
    signature = key.sign(head.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{b64(signature)}"


MIKE = {"Authorization": "Bearer " + token()}


def call(arguments, headers=MIKE, raw=None, name="ClaimsTools___get_claim", pool=POOL, env=ENV):
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    event = {"interceptorInputVersion": "1.0", "mcp": {
        "rawGatewayRequest": {"body": raw if raw is not None else json.dumps(body)},
        "gatewayRequest": {"path": "/mcp", "httpMethod": "POST", "headers": headers, "body": body}}}
    out = interceptor.handler(event, environ=env, keys=pool)
    assert out["interceptorOutputVersion"] == "1.0"
    assert set(out["mcp"]) == {"transformedGatewayRequest"}, "a tool call is never answered here"
    sent = out["mcp"]["transformedGatewayRequest"]["body"]
    assert {k: v for k, v in sent.items() if k != "params"} == {k: v for k, v in body.items() if k != "params"}
    assert sent["params"]["name"] == name
    return sent["params"]["arguments"]


def test_the_token_tenant_is_put_in_when_the_call_names_none():
    assert call({"claim_id": "CLM-A-001"}) == {"claim_id": "CLM-A-001", "tenant_id": "broker-a"}
    assert call({}) == {"tenant_id": "broker-a"}


def test_the_token_tenant_named_by_the_call_passes():
    assert call({"tenant_id": "broker-a", "claim_id": "CLM-A-001"}) == {"tenant_id": "broker-a", "claim_id": "CLM-A-001"}


def test_any_other_tenant_leaves_as_no_tenant_at_all():
    for forged in ("broker-b", "BROKER-A", "broker-a ", "broker-a\n", "", None, ["broker-a"], {"id": "broker-a"}, 1):
        assert call({"tenant_id": forged, "claim_id": "CLM-B-001"})["tenant_id"] == MISMATCH, forged
    # MISMATCH is not a tenant id: the tools' own check refuses it.
    assert not interceptor.TENANT.fullmatch(MISMATCH)


def test_a_key_given_twice_or_an_unreadable_raw_request_gets_no_tenant():
    twice = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ClaimsTools___get_claim",' \
            '"arguments":{"tenant_id":"broker-b","tenant_id":"broker-a","claim_id":"CLM-B-001"}}}'
    # The gateway parsed it to one of the values (which one is not documented): here the last.
    assert call({"tenant_id": "broker-a", "claim_id": "CLM-B-001"}, raw=twice)["tenant_id"] == MISMATCH
    nested = '{"jsonrpc":"2.0","id":7,"id":8,"method":"tools/call","params":{"name":"n","arguments":{}}}'
    assert call({}, raw=nested)["tenant_id"] == MISMATCH
    assert call({}, raw="{not json")["tenant_id"] == MISMATCH


def test_only_a_verified_access_token_of_the_pool_gives_a_tenant():
    signed = token().split(".")
    forged_payload = b64(json.dumps({"sub": "s-2", "iss": ISSUER, "client_id": "app-client", "token_use": "access",
                                     "exp": int(time.time()) + 600, "tenant_id": "broker-b"}).encode())
    cases = {
        "no headers (passRequestHeaders off)": {},
        "Basic credentials": {"Authorization": "Basic dXNlcjpwYXNz"},
        "not a JWT": {"Authorization": "Bearer not-a-jwt"},
        "a payload edited to broker-b, the signature kept": {"Authorization": f"Bearer {signed[0]}.{forged_payload}.{signed[2]}"},
        "unsigned (alg none)": {"Authorization": "Bearer " + ".".join([b64(b'{"alg":"none"}'), signed[1], ""])},
        "HS256 with the public key as secret": {"Authorization": "Bearer " + token(alg="HS256")},
        "signed by another key under the pool's kid": {"Authorization": "Bearer " + token(key=OTHER_KEY)},
        "a kid the pool does not have": {"Authorization": "Bearer " + token(kid="k9")},
        "another issuer": {"Authorization": "Bearer " + token(iss=ISSUER + "x")},
        "an ID token": {"Authorization": "Bearer " + token(token_use="id")},
        "another app client": {"Authorization": "Bearer " + token(client_id="other-client")},
        "expired": {"Authorization": "Bearer " + token(exp=int(time.time()) - 60)},
        "not valid yet": {"Authorization": "Bearer " + token(nbf=int(time.time()) + 600)},
        "no sub": {"Authorization": "Bearer " + token(sub=None)},
        "no tenant": {"Authorization": "Bearer " + token(tenant_id=None)},
        "an empty tenant": {"Authorization": "Bearer " + token(tenant_id="")},
        "a tenant that is no tenant id": {"Authorization": "Bearer " + token(tenant_id="Broker A")},
        "a tenant with a newline": {"Authorization": "Bearer " + token(tenant_id="broker-a\n")},
        "a tenant list": {"Authorization": "Bearer " + token(tenant_id=["broker-a"])},
        # Two Authorization headers, in different letter case, the second forged: ambiguous.
        "two Authorization headers": dict(MIKE, authorization="Bearer " + token({"tenant_id": "broker-b"}, key=OTHER_KEY)),
    }
    for why, headers in cases.items():
        assert call({"claim_id": "CLM-A-001"}, headers=headers)["tenant_id"] == MISMATCH, why
        assert call({"tenant_id": "broker-a"}, headers=headers)["tenant_id"] == MISMATCH, why
    # A claims set with tenant_id twice (a JSON parser would keep one of them).
    head = b64(b'{"alg":"RS256","kid":"k1"}') + "." + b64(
        json.dumps({"sub": "s-1", "iss": ISSUER, "client_id": "app-client", "token_use": "access",
                    "exp": int(time.time()) + 600})[:-1].encode() + b',"tenant_id":"broker-b","tenant_id":"broker-a"}')
    twice = head + "." + b64(KEY.sign(head.encode(), padding.PKCS1v15(), hashes.SHA256()))
    assert call({"tenant_id": "broker-a"}, headers={"Authorization": "Bearer " + twice})["tenant_id"] == MISMATCH
    # The same token is fine with the leeway on either side.
    near = token(exp=int(time.time()) + 2, nbf=int(time.time()) + 2)
    assert call({}, headers={"Authorization": "Bearer " + near})["tenant_id"] == "broker-a"


def test_without_its_settings_nobody_gets_a_tenant():
    for env in ({}, {"AUTH_ISSUER": ISSUER}, {"AUTH_ALLOWED_CLIENTS": "app-client"}, {"AUTH_ISSUER": ISSUER, "AUTH_ALLOWED_CLIENTS": " , "}):
        assert call({}, env=env)["tenant_id"] == MISMATCH, env


def test_the_header_is_found_in_any_letter_case():
    lower = {"authorization": "bearer " + token()}
    assert call({}, headers=lower)["tenant_id"] == "broker-a"
    assert call({}, headers={"Authorization": "Bearer " + token(client_id="web-client")})["tenant_id"] == "broker-a"


def test_the_keys_are_fetched_once_and_an_unknown_kid_at_most_every_30_seconds():
    clock = [1000.0]
    fetched = []

    def fetch(url):
        fetched.append(url)
        return {"keys": [jwk(KEY, "k1"), dict(jwk(KEY, "weak"), n=b64((2**1023 + 1).to_bytes(128, "big")))]}
    pool = interceptor.Keys("u", fetch=fetch, clock=lambda: clock[0])
    for _ in range(3):
        assert call({}, pool=pool)["tenant_id"] == "broker-a"
    assert len(fetched) == 1
    clock[0] += 31
    for _ in range(3):
        assert call({}, headers={"Authorization": "Bearer " + token(kid="k9")}, pool=pool)["tenant_id"] == MISMATCH
    assert len(fetched) == 2, "an unknown kid refetches at most once per 30 s"
    # A key under 2048 bits is not taken.
    assert call({}, headers={"Authorization": "Bearer " + token(kid="weak")}, pool=pool)["tenant_id"] == MISMATCH
    clock[0] += 31
    call({}, headers={"Authorization": "Bearer " + token(kid="k9")}, pool=pool)
    assert len(fetched) == 3

    def down(url):
        raise OSError("unreachable")
    broken = interceptor.Keys("u", fetch=down, clock=lambda: clock[0])
    with pytest.raises(interceptor.Refused):
        broken.key("k1")
    with pytest.raises(interceptor.Refused, match="retried"):
        broken.key("k1")


def test_the_local_cloud_reads_the_keys_where_the_endpoint_is_overridden():
    assert interceptor.jwks_url(ISSUER, {}) == ISSUER + "/.well-known/jwks.json"
    local = interceptor.jwks_url(ISSUER, {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566/"})
    assert local == "http://127.0.0.1:4566/us-east-1_pool/.well-known/jwks.json"


def test_a_batch_is_answered_at_once_and_everything_but_a_tool_call_passes_unchanged():
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "n", "arguments": {"tenant_id": "broker-b"}}}]
    out = interceptor.handler({"mcp": {"gatewayRequest": {"headers": MIKE, "body": batch}}}, environ=ENV, keys=POOL)
    assert out["mcp"]["transformedGatewayResponse"]["body"]["error"]["code"] == -32600
    assert "transformedGatewayRequest" not in out["mcp"]
    for body in (
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "x", "arguments": "not an object"}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call"},
        "not an object",
    ):
        event = {"mcp": {"gatewayRequest": {"headers": MIKE, "body": copy.deepcopy(body)}}}
        assert interceptor.handler(event, environ=ENV, keys=POOL)["mcp"]["transformedGatewayRequest"]["body"] == body


def test_the_token_never_leaves_in_the_answer(capsys):
    for headers in (MIKE, {"Authorization": "Bearer " + token(iss="x")}):
        event = {"mcp": {"rawGatewayRequest": {"body": "{}"}, "gatewayRequest": {"headers": headers, "body": {
            "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "n", "arguments": {}}}}}}
        out = json.dumps(interceptor.handler(event, environ=ENV, keys=POOL))
        secret = headers["Authorization"].split()[1]
        assert secret not in out and secret.split(".")[2] not in capsys.readouterr().err


def test_rs256_check_is_strict():
    n, e = interceptor.Keys._parse({"keys": [jwk(KEY, "k1")]})["k1"]
    message = b"header.payload"
    good = KEY.sign(message, padding.PKCS1v15(), hashes.SHA256())
    assert interceptor.rs256_valid(message, good, n, e)
    assert not interceptor.rs256_valid(message + b"x", good, n, e)
    assert not interceptor.rs256_valid(message, good[:-1], n, e), "a short signature"
    assert not interceptor.rs256_valid(message, b"\x00" + good, n, e), "a long signature"
    assert not interceptor.rs256_valid(message, n.to_bytes(256, "big"), n, e), "s >= n"
    pss = KEY.sign(message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    assert not interceptor.rs256_valid(message, pss, n, e), "another padding"
    sha1 = KEY.sign(message, padding.PKCS1v15(), hashes.SHA1())
    assert not interceptor.rs256_valid(message, sha1, n, e), "another hash"
