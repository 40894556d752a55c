"""The app factory: routes, request limits, JSON error handling and the timed request path."""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import bottle

from . import info
from .metrics import KNOWN_METHODS, OTHER_METHOD, UNMATCHED, Metrics
from .settings import Settings

log = logging.getLogger("webdemo")

HEALTH = "/api/v1/health"
INFO = "/api/v1/info"
_HEALTH_BODY = b'{"success": true}'
_JSON = "application/json"
_REASONS = {
    400: "bad request",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
    414: "request line too long",
    431: "request header fields too large",
    500: "internal server error",
}

# Request limits, the app's own so that a request made straight to the app's socket gets the same
# JSON answer under gunicorn and granian (each server's parser only keeps a hard ceiling above
# them: gunicorn_conf.py; granian's hyper allows far more). The values are those gunicorn enforced
# itself in earlier releases (with an HTML answer). More than 100 header fields are refused by
# either server's parser (431) before any app runs.
MAX_REQUEST_LINE = 4094  # bytes of "METHOD target PROTOCOL" (target as decoded in PATH_INFO)
MAX_HEADER_FIELD_SIZE = 8190  # bytes of one "Name: value" line (values of a repeated name joined)
# "HTTP_" is 5 bytes, ": " 2: a header line "Name: value" is len(key) - 3 + len(value) bytes.
_FIELD_KEY_SLACK = len("HTTP_") - len(": ")
# Environ keys that are not request headers, whichever server: CGI and WSGI keys, gunicorn's and
# granian's own, and the process environment (granian copies os.environ into every environ). Only
# the keys left (the headers) are measured, so the check costs a set difference, not a loop over
# the whole environ.
_NOT_HEADERS = frozenset(
    (
        *os.environ,
        *(
            "REQUEST_METHOD SCRIPT_NAME PATH_INFO QUERY_STRING CONTENT_TYPE CONTENT_LENGTH "
            "SERVER_NAME SERVER_PORT SERVER_PROTOCOL SERVER_SOFTWARE GATEWAY_INTERFACE "
            "REMOTE_ADDR REMOTE_PORT RAW_URI wsgi.version wsgi.url_scheme wsgi.input wsgi.errors "
            "wsgi.multithread wsgi.multiprocess wsgi.run_once wsgi.file_wrapper "
            "wsgi.input_terminated wsgi.early_hints gunicorn.socket"
        ).split(),
    )
)


def _error_response(code: int) -> tuple[str, list[tuple[str, str]], bytes]:
    """A JSON error built once (status line, headers, body), for answers made outside Bottle."""
    body = json.dumps({"success": False, "error": _REASONS[code]}).encode()
    headers = [
        ("Content-Type", _JSON),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ]
    return f"{code} {bottle.HTTP_CODES[code]}", headers, body


_TOO_LONG = _error_response(414)
_TOO_LARGE = _error_response(431)


def request_limit_error(environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """The prepared 414/431 answer when the request exceeds the app's limits, else None."""
    line = (
        len(environ.get("REQUEST_METHOD", ""))
        + len(environ.get("PATH_INFO", ""))
        + len(environ.get("SERVER_PROTOCOL", ""))
        + 2
    )
    query = environ.get("QUERY_STRING")
    if query:
        line += len(query) + 1
    if line > MAX_REQUEST_LINE:
        return _TOO_LONG
    keys = environ.keys() - _NOT_HEADERS  # the headers (and any key no server listed here)
    if not keys:
        return None
    try:
        # The longest name plus the longest value bounds every line; only over the limit is
        # each line measured (all in C: no Python loop per header on the usual path).
        bound = max(map(len, keys)) + max(map(len, map(environ.__getitem__, keys)))
    except TypeError:  # a key no server listed, whose value is not a string
        bound = MAX_HEADER_FIELD_SIZE + _FIELD_KEY_SLACK + 1
    if bound - _FIELD_KEY_SLACK > MAX_HEADER_FIELD_SIZE:
        for key in keys:
            if key[:5] == "HTTP_":
                value = environ[key]
                if len(key) + len(value) - _FIELD_KEY_SLACK > MAX_HEADER_FIELD_SIZE:
                    return _TOO_LARGE
    return None


class WebDemo(bottle.Bottle):
    """A Bottle app that carries its settings and metrics (None when metrics are disabled).

    Its WSGI entry (__call__) checks the request limits, answers a plain GET/HEAD of
    /api/v1/health (a response built once: the load balancers' and the load tests' hot path) and
    of /api/v1/info (headers built once, the body the JSON of info.collect()) itself, with the
    same status, headers and body Bottle would send, hands everything else to Bottle, and times
    and observes every request when metrics are on: a request costs one histogram observation and
    nothing that could be done once.
    """

    def __init__(self, settings: Settings, metrics: Metrics | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # bottle.Bottle refuses to set an attribute twice: each is set once, here.
        self.settings = settings
        self.metrics = metrics
        # Answered here unless a test delay makes the handlers sleep (then Bottle's route does).
        self.health_constant = not (settings.allow_test_delay and settings.test_delay_seconds)
        self.health_headers: list[tuple[str, str]] = [
            ("Content-Type", _JSON),
            ("Content-Length", str(len(_HEALTH_BODY))),
        ]
        # The paths answered here; /api/v1/info only when it is a route at all.
        self._fast_paths = (HEALTH, INFO) if settings.info_enabled else (HEALTH,)
        # (path, method) -> the observe function of its histogram child (GET/HEAD, status 200).
        self._observe_fast: dict[tuple[str, str], Callable[[float], None]] = {}

    def _fast(self, environ: dict[str, Any]) -> str | None:
        """The path of a plain GET/HEAD /api/v1/health or /api/v1/info (no body to check) when
        this class answers it, else None (Bottle does)."""
        if (
            self.health_constant
            and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            and not environ.get("CONTENT_LENGTH")
        ):
            path = environ.get("PATH_INFO")
            if path in self._fast_paths:
                return path
        return None

    def _answer(self, path: str, environ: dict[str, Any], start_response: Callable[..., Any]):
        """The answer to _fast's path, or None when info.collect() failed (Bottle's route then
        answers the request, with its JSON 500 if it fails again)."""
        if path == HEALTH:
            start_response("200 OK", self.health_headers[:])
            return [b"" if environ["REQUEST_METHOD"] == "HEAD" else _HEALTH_BODY]
        try:
            body = json.dumps(info.collect()).encode()  # what Bottle's JSON plugin sends
        except Exception:
            return None
        start_response("200 OK", [("Content-Type", _JSON), ("Content-Length", str(len(body)))])
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        metrics = self.metrics
        if metrics is None:
            refused = request_limit_error(environ)
            if refused is not None:
                return _refuse(environ, start_response, refused)
            path = self._fast(environ)
            if path is not None:
                body = self._answer(path, environ, start_response)
                if body is not None:
                    return body
            return self.wsgi(environ, start_response)

        start = time.perf_counter()
        refused = request_limit_error(environ)
        if refused is not None:
            body = _refuse(environ, start_response, refused)
            _observe(metrics, environ, UNMATCHED, refused[0][:3], start)
            return body
        path = self._fast(environ)
        if path is not None:
            body = self._answer(path, environ, start_response)
            if body is not None:
                key = (path, environ["REQUEST_METHOD"])
                observe = self._observe_fast.get(key)
                if observe is None:
                    observe = self._observe_fast[key] = metrics.observer(key[1], path, "200")
                observe(time.perf_counter() - start)
                return body

        status = ["500"]

        def _start_response(status_line: str, headers: list, exc_info: Any = None) -> Any:
            status[0] = status_line[:3]
            return start_response(status_line, headers, exc_info)

        try:
            # Bottle returns a fully built body (a list of bytes), so the call is the work.
            return self.wsgi(environ, _start_response)
        finally:
            route = environ.get("bottle.route")
            _observe(metrics, environ, UNMATCHED if route is None else route.rule, status[0], start)


def _refuse(
    environ: dict[str, Any],
    start_response: Callable[..., Any],
    refused: tuple[str, list[tuple[str, str]], bytes],
) -> list[bytes]:
    status, headers, body = refused
    start_response(status, headers[:])
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]


def _observe(
    metrics: Metrics, environ: dict[str, Any], path: str, status: str, start: float
) -> None:
    """The labels are bounded: the route template or <unmatched>, a known method or "other"."""
    method = environ.get("REQUEST_METHOD", "")
    if method not in KNOWN_METHODS:
        method = OTHER_METHOD
    metrics.observer(method, path, status)(time.perf_counter() - start)


def _json_error(res: bottle.HTTPError) -> bytes:
    """Every error Bottle produces (router 404/405, our 400/413, uncaught 500) becomes JSON."""
    code = res.status_code
    if code >= 500:
        # Bottle has already written the traceback to wsgi.errors (gunicorn's error log); the
        # client gets no details.
        message = _REASONS.get(code, "server error")
    elif isinstance(res.body, str) and res.body and res.body.startswith("webdemo: "):
        message = res.body.removeprefix("webdemo: ")
    else:
        message = _REASONS.get(code, "request error")
    bottle.response.content_type = _JSON
    bottle.response.set_header("Cache-Control", "no-store")
    return json.dumps({"success": False, "error": message}).encode()


def _body_limit(max_bytes: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A route plugin: refuse malformed (400) or oversized (413) bodies before the handler runs.

    Applied per route, so the request is already matched: unknown paths stay 404, wrong methods
    405, and the metrics keep the route template as path label. Only the declared length is
    checked; no route reads a body, and gunicorn itself rejects malformed framing.
    """

    def plugin(callback: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(callback)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            raw = bottle.request.environ.get("CONTENT_LENGTH", "")
            if raw:
                if not raw.isdigit():  # also refuses "-1", "+5", "1e3", " 5"
                    raise bottle.HTTPError(400, "webdemo: invalid Content-Length header")
                if int(raw) > max_bytes:
                    raise bottle.HTTPError(413, "webdemo: request body too large")
            return callback(*args, **kwargs)

        return wrapper

    return plugin


class _Handlers:
    """Route callbacks as bound methods.

    Not closures: Bottle's Route.get_undecorated_callback (used by repr(route)) loops forever on
    a closure whose cells hold no callable.
    """

    def __init__(self, settings: Settings, metrics: Metrics | None) -> None:
        self.delay = settings.test_delay_seconds if settings.allow_test_delay else 0.0
        self.metrics = metrics

    def health(self) -> bytes:
        if self.delay:
            time.sleep(self.delay)
        bottle.response.content_type = _JSON
        return _HEALTH_BODY

    def os_info(self) -> dict[str, Any]:
        if self.delay:
            time.sleep(self.delay)
        return info.collect()

    def scrape(self) -> bytes:
        assert self.metrics is not None  # noqa: S101 - route exists only with metrics
        body, content_type = self.metrics.exposition(bottle.request.get_header("Accept"))
        bottle.response.content_type = content_type
        bottle.response.set_header("Cache-Control", "no-store")
        return body


def create_app(settings: Settings) -> WebDemo:
    """Build the WSGI app (a bottle.Bottle) from settings."""
    metrics = Metrics(settings.multiproc_dir) if settings.metrics_enabled else None
    app = WebDemo(settings, metrics, catchall=True, autojson=True)
    app.default_error_handler = _json_error  # type: ignore[method-assign]
    app.install(_body_limit(settings.max_body_bytes))
    handlers = _Handlers(settings, metrics)

    # Bottle's route for HEALTH also serves what WebDemo.__call__'s constant answer does not
    # (a body to check, a test delay) and gives it its 405 for other methods.
    app.get(HEALTH, callback=handlers.health)
    if settings.info_enabled:
        # Not registered at all when disabled: the 404 is the router's, identical to any
        # unknown path.
        app.get("/api/v1/info", callback=handlers.os_info)
    if metrics is not None:
        # Without metrics: no /metrics route (404) and no per-request observation.
        app.get("/metrics", callback=handlers.scrape)
    return app
