"""The app factory: routes, body limits and JSON error handling."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import bottle

from . import info
from .metrics import Metrics, MetricsMiddleware
from .settings import Settings

log = logging.getLogger("webdemo")

_HEALTH_BODY = b'{"success": true}'
_JSON = "application/json"
_REASONS = {
    400: "bad request",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
    500: "internal server error",
}


class WebDemo(bottle.Bottle):
    """A Bottle app that carries its settings and metrics (None when metrics are disabled).

    Its WSGI entry is Bottle's own, wrapped in the metrics middleware when metrics are on.
    """

    def __init__(self, settings: Settings, metrics: Metrics | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # bottle.Bottle refuses to set an attribute twice: each is set once, here.
        self.settings = settings
        self.metrics = metrics
        self._entry = self.wsgi if metrics is None else MetricsMiddleware(self.wsgi, metrics)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self._entry(environ, start_response)


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

    app.get("/api/v1/health", callback=handlers.health)
    if settings.info_enabled:
        # Not registered at all when disabled: the 404 is the router's, identical to any
        # unknown path.
        app.get("/api/v1/info", callback=handlers.os_info)
    if metrics is not None:
        # Without metrics: no /metrics route (404) and no per-request observation.
        app.get("/metrics", callback=handlers.scrape)
    return app
