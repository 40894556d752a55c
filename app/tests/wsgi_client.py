"""A tiny WSGI test client: builds a PEP 3333 environ and calls the app in-process."""

from __future__ import annotations

import io
import json
import wsgiref.util
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    errors: str = field(default="")

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: Any,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    environ_extra: dict[str, str] | None = None,
) -> Response:
    path, _, query = path.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    wsgiref.util.setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.errors"] = errors = io.StringIO()
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    environ.update(environ_extra or {})

    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list, exc_info: Any = None) -> Any:
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = {k.lower(): v for k, v in response_headers}
        return lambda data: None

    result = app(environ, start_response)
    try:
        body_out = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return Response(captured["status"], captured["headers"], body_out, errors.getvalue())
