"""Starts moto's server with the project's bridges for gaps of the emulator, so that the
provisioner's AWS code stays exactly what runs against AWS. Each bridge names the gap it closes.
"""
import os
import sys

# Everything this process writes is its own user's alone (0600, 0700): the local cloud's state is
# nobody else's to read.
os.umask(0o077)

# Written beside this script by `cargo xtask local up`, before moto starts.
import local_common  # noqa: E402
from moto.s3vectors import responses  # noqa: E402


# Gap: moto drops an index's metadataConfiguration (AWS stores it, immutably, and GetIndex
# reports it), so a converged index would look as if it needed replacing on every plan.
_create_index = responses.S3VectorsResponse.create_index


def _create_index_keeping_metadata(self):
    result = _create_index(self)
    config = self._get_param("metadataConfiguration")
    if config:
        index = self.s3vectors_backend.get_index(self._get_param("vectorBucketName"), self._get_param("indexName"), self._get_param("indexArn"))
        index.metadata_configuration = {"nonFilterableMetadataKeys": list(config.get("nonFilterableMetadataKeys", []))}
    return result


responses.S3VectorsResponse.create_index = _create_index_keeping_metadata


# Gap: moto answers every origin (flask-cors on every answer: `Access-Control-Allow-Origin: *`, and
# every CORS preflight), so any web page the developer visits could drive it. LocalStack refuses
# foreign origins by default; here every origin is refused, and so is a request for a host that is
# not loopback (DNS rebinding) or one that is not AWS-shaped (unsigned, or with a content type the
# Fetch standard lets a page send without a preflight): `local_common.refusal`. No
# `Access-Control-*` header leaves this server.
def _guarded(app):
    def guarded(environ, start_response):
        headers = [(k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")]
        headers += [(k.replace("_", "-"), environ[k]) for k in ("CONTENT_TYPE", "CONTENT_LENGTH") if environ.get(k)]
        query = environ.get("QUERY_STRING", "")
        target = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
        why = local_common.refusal(environ.get("REQUEST_METHOD", "GET"), target, headers, "moto")
        if why is not None:
            body = local_common.refused_body(why)
            start_response("403 Forbidden", [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("x-amzn-ErrorType", local_common.REFUSED_TYPE),
                ("Connection", "close"),
            ])
            return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

        def start_without_cors(status, response_headers, exc_info=None):
            return start_response(status, local_common.without_cors(response_headers), exc_info)

        return app(environ, start_without_cors)

    return guarded


if __name__ == "__main__":
    from moto import server

    # main() serves the app it builds through `run_simple`: the guard goes around it there.
    _run_simple = server.run_simple
    server.run_simple = lambda host, port, app, **kwargs: _run_simple(host, port, _guarded(app), **kwargs)
    sys.exit(server.main())
