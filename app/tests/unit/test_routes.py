"""Routes and JSON error handling, calling the WSGI app in-process."""

import time

import pytest

from tests.wsgi_client import call


def test_health_returns_success_json(app):
    res = call(app, "/api/v1/health")
    assert res.status == 200
    assert res.headers["content-type"].startswith("application/json")
    assert res.json() == {"success": True}


def test_head_health_has_no_body(app):
    res = call(app, "/api/v1/health", method="HEAD")
    assert res.status == 200
    assert res.body == b""


def test_info_has_os_facts_with_types(app):
    res = call(app, "/api/v1/info")
    assert res.status == 200
    assert res.headers["content-type"].startswith("application/json")
    data = res.json()
    expected = {
        "name": str,
        "release": str,
        "hostname": str,
        "totalMem": int,
        "freeMem": int,
        "cpuCount": int,
        "loadAverage": list,
        "uptimeSeconds": int,
        "version": str,
        "python": str,
    }
    assert set(data) == set(expected)
    for key, typ in expected.items():
        assert isinstance(data[key], typ), key
    assert data["name"] == "Linux"
    assert 0 < data["freeMem"] <= data["totalMem"]
    assert len(data["loadAverage"]) == 3
    assert data["version"] == "0.1.0"


def test_info_disabled_is_the_same_404_as_an_unknown_route(make_app):
    app = make_app(WEBDEMO_INFO_ENABLED="false")
    disabled = call(app, "/api/v1/info")
    unknown = call(app, "/api/v1/nothing-here")
    assert disabled.status == unknown.status == 404
    assert disabled.json() == unknown.json() == {"success": False, "error": "not found"}
    assert disabled.headers == unknown.headers


@pytest.mark.parametrize("path", ["/api/v1/users", "/", "/api/v1/health/x", "/%ff%fe"])
def test_unknown_routes_are_json_404(app, path):
    res = call(app, path)
    assert res.status == 404
    assert res.headers["content-type"].startswith("application/json")
    assert res.json() == {"success": False, "error": "not found"}


def test_wrong_method_is_405_with_allow(app):
    res = call(app, "/api/v1/health", method="POST", body=b"{}")
    assert res.status == 405
    assert "GET" in res.headers["allow"]
    assert res.json()["success"] is False


def test_oversized_content_length_is_413(make_app):
    app = make_app(WEBDEMO_MAX_BODY_BYTES="10")
    assert call(app, "/api/v1/health", headers={"Content-Length": "10"}).status == 200
    res = call(app, "/api/v1/health", headers={"Content-Length": "11"})
    assert res.status == 413
    assert res.json() == {"success": False, "error": "request body too large"}


def test_default_body_limit_is_one_mib(app):
    assert call(app, "/api/v1/health", headers={"Content-Length": str(1 << 20)}).status == 200
    assert call(app, "/api/v1/health", headers={"Content-Length": str((1 << 20) + 1)}).status == 413


@pytest.mark.parametrize("value", ["abc", "-1", "1e3", "+5"])
def test_malformed_content_length_is_400(app, value):
    res = call(app, "/api/v1/health", headers={"Content-Length": value})
    assert res.status == 400
    assert res.json() == {"success": False, "error": "invalid Content-Length header"}


def _boom():
    raise RuntimeError("secret detail")


def test_unexpected_exception_is_json_500_without_traceback(app):
    app.get("/boom", callback=_boom)
    res = call(app, "/boom")
    assert res.status == 500
    assert res.json() == {"success": False, "error": "internal server error"}
    assert b"secret" not in res.body and b"Traceback" not in res.body
    assert "RuntimeError: secret detail" in res.errors  # logged to wsgi.errors


def test_test_delay_is_applied_only_with_allow_flag(make_app):
    app = make_app(WEBDEMO_TEST_DELAY_SECONDS="0.2", WEBDEMO_ALLOW_TEST_DELAY="true")
    start = time.perf_counter()
    assert call(app, "/api/v1/health").status == 200
    assert time.perf_counter() - start >= 0.2


def test_no_delay_by_default(app):
    start = time.perf_counter()
    for _ in range(20):
        call(app, "/api/v1/health")
    assert time.perf_counter() - start < 0.5


def test_health_constant_answer_is_what_bottle_sends(make_app):
    fast = make_app(WEBDEMO_METRICS_ENABLED="false")
    slow = make_app(
        WEBDEMO_METRICS_ENABLED="false",
        WEBDEMO_TEST_DELAY_SECONDS="0.001",
        WEBDEMO_ALLOW_TEST_DELAY="true",
    )
    assert fast.health_constant and not slow.health_constant
    for method in ("GET", "HEAD"):
        for path in ("/api/v1/health", "/api/v1/health?probe=1"):
            a, b = call(fast, path, method=method), call(slow, path, method=method)
            assert (a.status, a.headers, a.body) == (b.status, b.headers, b.body)


def test_info_answer_is_what_bottle_sends(make_app, monkeypatch):
    # The same facts for both apps, so the bytes can be compared.
    facts = {"name": "Linux", "hostname": "h\u00e9", "totalMem": 1 << 34, "loadAverage": [0.5]}
    monkeypatch.setattr("webdemo.info.collect", lambda: dict(facts))
    for metrics in ("true", "false"):
        fast = make_app(WEBDEMO_METRICS_ENABLED=metrics)
        slow = make_app(
            WEBDEMO_METRICS_ENABLED=metrics,
            WEBDEMO_TEST_DELAY_SECONDS="0.001",
            WEBDEMO_ALLOW_TEST_DELAY="true",
        )
        for method in ("GET", "HEAD"):
            for path in ("/api/v1/info", "/api/v1/info?x=1"):
                a, b = call(fast, path, method=method), call(slow, path, method=method)
                assert (a.status, a.headers, a.body) == (b.status, b.headers, b.body)
        assert call(fast, "/api/v1/info").json() == facts


def test_info_failure_is_bottles_json_500_and_observed(app, monkeypatch):
    def broken():
        raise OSError("no /proc")

    monkeypatch.setattr("webdemo.info.collect", broken)
    res = call(app, "/api/v1/info")
    assert res.status == 500
    assert res.json() == {"success": False, "error": "internal server error"}
    body = call(app, "/metrics").body.decode()
    labels = 'method="GET",path="/api/v1/info",status_code="500"'
    assert f"http_request_duration_seconds_count{{{labels}}} 1.0" in body


@pytest.mark.parametrize(
    ("path", "headers", "status", "error"),
    [
        ("/api/v1/" + "a" * 4080, {}, 414, "request line too long"),
        ("/api/v1/health?" + "q" * 4070, {}, 414, "request line too long"),
        ("/api/v1/health", {"X-Big": "b" * 8190}, 431, "request header fields too large"),
        ("/api/v1/health", {"Content-Length": "2000000"}, 413, "request body too large"),
    ],
)
def test_request_limits_are_json(app, path, headers, status, error):
    res = call(app, path, headers=headers)
    assert res.status == status
    assert res.headers["content-type"] == "application/json"
    assert res.headers["cache-control"] == "no-store"
    assert res.json() == {"success": False, "error": error}


def test_request_limits_boundaries(app):
    # "GET " + path + " HTTP/1.1" is exactly 4094 bytes: accepted (404: no such route).
    path = "/" + "a" * (4094 - len("GET  HTTP/1.1") - 1)
    assert call(app, path).status == 404
    assert call(app, path + "a").status == 414
    # "X-Big: " + value is exactly 8190 bytes: accepted.
    value = "b" * (8190 - len("X-Big: "))
    assert call(app, "/api/v1/health", headers={"X-Big": value}).status == 200
    assert call(app, "/api/v1/health", headers={"X-Big": value + "b"}).status == 431
    # Many small headers are fine (the servers' parsers refuse more than 100).
    many = {f"X-H{i}": "1" for i in range(80)}
    assert call(app, "/api/v1/health", headers=many).status == 200


def test_refused_requests_are_observed_as_unmatched(app):
    call(app, "/api/v1/" + "a" * 5000)
    body = call(app, "/metrics").body.decode()
    assert (
        'http_request_duration_seconds_count{method="GET",path="<unmatched>",status_code="414"} 1.0'
        in body
    )
