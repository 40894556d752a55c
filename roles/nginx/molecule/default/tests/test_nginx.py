"""nginx in both modes, checked through the lb's HTTPS as a client would see it, plus validation before reload."""

import json
from pathlib import Path

import pytest
from webdemo_tools import hostcheck

testinfra_hosts = ["ansible://lb"]
SCENARIO = Path(__file__).resolve().parent.parent


def request(host, path, *curl_args):
    """(status, headers, body) of a request made on the lb itself, through its nginx's HTTPS (the host trusts the
    scenario's CA: roles/common)."""
    response = hostcheck.request(host, "https://localhost" + path, *curl_args)
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


def test_plain_http_only_redirects_to_https(host):
    response = hostcheck.request(host, "http://localhost/api/v1/health?x=1")
    assert response.status == 301
    assert "location: https://localhost/api/v1/health?x=1" in response.headers.splitlines()


def test_https_answers_carry_hsts_and_the_security_headers(host):
    for path in ("/api/v1/health", "/api/v1/users"):  # an answer of the app and an error
        lines = request(host, path)[1].splitlines()
        assert "strict-transport-security: max-age=63072000" in lines
        assert "x-content-type-options: nosniff" in lines
        assert "x-frame-options: deny" in lines
        assert "content-security-policy: default-src 'none'; frame-ancestors 'none'" in lines


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_old_tls_versions_are_refused_by_the_server(host, version):
    # Debian's OpenSSL client offers TLS 1.0/1.1 at security level 0; the server's alert proves it refused them.
    cmd = host.run(f"openssl s_client -connect localhost:443 {version} -cipher DEFAULT@SECLEVEL=0 </dev/null")
    assert cmd.rc != 0
    assert "alert protocol version" in cmd.stderr


def test_a_weak_cipher_is_refused_and_a_modern_one_accepted(host):
    weak = host.run("openssl s_client -connect localhost:443 -tls1_2 -cipher AES128-SHA </dev/null")
    assert weak.rc != 0
    assert "alert handshake failure" in weak.stderr
    modern = host.run("openssl s_client -connect localhost:443 -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 </dev/null")
    assert "Cipher is ECDHE-RSA-AES128-GCM-SHA256" in modern.stdout


def test_a_client_over_its_rate_gets_json_429(host):
    """300 requests at once from one client (curl, 50 connections in parallel): over the scenario's 20 r/s with a
    burst of 40, the first ones are served and most of the rest refused with a JSON 429."""
    out = host.check_output(
        "rm -rf /tmp/flood && mkdir /tmp/flood && curl -sS --parallel --parallel-max 50 --max-time 20 -i "
        "-o '/tmp/flood/#1' -w '%{http_code}\\n' 'https://localhost/api/v1/health?[1-300]'"
    )
    codes = out.split()
    assert len(codes) == 300
    assert set(codes) == {"200", "429"}, codes
    assert codes.count("200") >= 40
    assert codes.count("429") >= 100
    refused = host.check_output("grep -l '^HTTP/1.1 429' /tmp/flood/* | head -n 1")
    answer = host.file(refused).content_string.replace("\r\n", "\n")
    headers, body = answer.split("\n\n", 1)
    assert json.loads(body) == {"success": False, "error": "too many requests", "status": 429}
    assert "retry-after: 1" in headers.lower()
    assert "strict-transport-security: " in headers.lower()


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
