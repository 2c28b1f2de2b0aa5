"""What the case-by-case test scripts share (agentcore_control.py, gateway_mcp.py): cases that
pass or fail with a detail, a refusal expected by its error code, a wait for a state, and the
JSON report the Rust test judges."""

import json
import time

import botocore.exceptions

cases, failed = [], []


def check(name, ok, detail=""):
    case = {"name": name, "ok": bool(ok), "detail": str(detail)[:400]}
    cases.append(case)
    if not ok:
        failed.append(case)


def refused(name, code, call):
    """`call` must fail with the AWS error `code`."""
    try:
        out = call()
        check(name, False, f"accepted: {out}")
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        check(name, got == code, f"{got}: {e.response['Error'].get('Message')}")


def wait(get, field, until, seconds=30):
    """`get()` again until its `field` is one of `until` (or `seconds` passed); its last answer."""
    deadline = time.time() + seconds
    while True:
        out = get()
        if out[field] in until or time.time() > deadline:
            return out
        time.sleep(0.2)


def report():
    print(json.dumps({"cases": cases, "failed": failed}))
