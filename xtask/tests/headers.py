"""An allow-listed request header sent twice is ambiguous (which value would the agent act on?):
the local runtime host refuses it with 400, and passes it on when sent once. Run against a
deployment whose policy agent allow-lists the header named here. Prints a JSON report.

usage: headers.py MINISTACK_URL RUNTIME_HOST_URL OUTPUTS_JSON HEADER
"""
import json
import sys

from load import post, sign_in

ministack, host, outputs_path, header = sys.argv[1:5]
outputs = json.load(open(outputs_path))
token = sign_in(ministack, outputs)["john-regular"]
once, _ = post(host, outputs, "john-regular", token, [(header, "a")])
twice, text = post(host, outputs, "john-regular", token, [(header, "a"), (header, "b")])
print(json.dumps({"once": once, "twice": twice, "detail": text[:200]}))
