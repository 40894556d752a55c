"""nginx in both modes, checked through the lb as a client would see it, plus validation before reload."""

import json
from pathlib import Path

import pytest
from webdemo_tools import hostcheck

testinfra_hosts = ["ansible://lb"]
SCENARIO = Path(__file__).resolve().parent.parent


def request(host, path, *curl_args):
    """(status, headers, body) of a request made on the lb itself, through its nginx."""
    response = hostcheck.request(host, "http://localhost" + path, *curl_args)
    return response.status, response.headers, response.body


def test_nginx_runs_and_its_config_is_valid(host):
    assert host.service("nginx").is_running
    assert host.service("nginx").is_enabled
    assert host.run("nginx -t").rc == 0


def test_health_reaches_the_app_through_both_nginx(host):
    status, headers, body = request(host, "/api/v1/health")
    assert status == 200
    assert json.loads(body) == {"success": True}
    assert "server: nginx\r\n" in headers  # server_tokens off: no version


def test_app_404_is_passed_through(host):
    status, _, body = request(host, "/api/v1/users")
    assert status == 404
    assert json.loads(body)["success"] is False


def test_lb_does_not_expose_metrics(host):
    status, _, body = request(host, "/metrics")
    assert status == 404
    assert json.loads(body) == {"success": False, "error": "not found", "status": 404}


@pytest.mark.parametrize(
    ("curl_args", "expected"),
    [
        (("-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@/tmp/big"), 413),
        (("-H", "X-Big: " + "a" * 9000), 400),
    ],
)
def test_oversized_requests_get_json_4xx(host, curl_args, expected):
    host.run("head -c 2000000 /dev/zero > /tmp/big")
    status, headers, body = request(host, "/api/v1/health", *curl_args)
    assert status == expected
    assert json.loads(body)["success"] is False
    assert "content-type: application/json" in headers


def test_overlong_request_line_gets_json_414(host):
    status, _, body = request(host, "/api/v1/health?" + "a" * 10000)
    assert status == 414
    assert json.loads(body)["status"] == 414


def test_backend_serves_metrics_and_status_locally(host):
    (backend,) = hostcheck.group_hosts("backend")
    metrics = backend.check_output("curl -sS --max-time 5 http://localhost/metrics")
    assert "http_request_duration_seconds_bucket" in metrics
    assert "Active connections" in backend.check_output("curl -sS --max-time 5 http://localhost/nginx_status")


def test_rejected_config_fails_the_play_and_keeps_the_live_one(host):
    hostcheck.assert_rejected_config_keeps_the_live_one(
        host, SCENARIO / "bad-config.yml", "/etc/nginx/nginx.conf", "nginx"
    )
    status, _, _ = request(host, "/api/v1/health")
    assert status == 200
