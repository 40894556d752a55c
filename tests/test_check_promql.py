"""scripts/check_promql.py: extraction and substitution on the real dashboard, then (when Debian's prometheus is
installed) an end-to-end run against a real Prometheus scraping a histogram that grows between scrapes."""

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_promql.py"
GENERATOR = ROOT / "roles" / "grafana" / "files" / "generate_dashboards.py"
DASHBOARD = ROOT / "roles" / "grafana" / "files" / "dashboards" / "api-latency.json"
PROMETHEUS = Path("/usr/bin/prometheus")
DATASOURCE = {"type": "prometheus", "uid": "PBFA97CFB590B2093"}

spec = importlib.util.spec_from_file_location("check_promql", SCRIPT)
check_promql = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_promql)


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


# --- The dashboard and its generator ------------------------------------------------------------------------


def test_dashboard_json_is_up_to_date_with_its_generator():
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_dashboard_has_the_panels_and_every_query_uses_the_prometheus_datasource():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "webdemo-api-latency"
    assert dashboard["title"] == "API Latency"
    panels = [p for p in all_panels(dashboard["panels"]) if p["type"] != "row"]
    titles = {p["title"] for p in panels}
    for wanted in (
        "Response Latency",
        "p50/p95/p99 per route",
        "Request rate",
        "Error ratio",
        "2xx responses",
        "3xx responses",
        "4xx responses",
        "5xx responses",
        "APIs <> StatusCode",
        "Backends up",
        "Firing alerts",
    ):
        assert wanted in titles
    for panel in panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for tgt in panel["targets"]:
            assert tgt["datasource"] == DATASOURCE, panel["title"]
    ids = [p["id"] for p in all_panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))


def test_no_panel_plots_a_raw_counter():
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in all_panels(dashboard["panels"]):
        for tgt in panel.get("targets", []):
            if "http_request_duration_seconds" in tgt["expr"]:
                assert "rate(" in tgt["expr"] or "increase(" in tgt["expr"], (panel["title"], tgt["expr"])


# --- Extraction -----------------------------------------------------------------------------------------


def test_extracts_every_expression_of_the_real_dashboard():
    dashboard = json.loads(DASHBOARD.read_text())
    expected = [t["expr"] for p in all_panels(dashboard["panels"]) for t in p.get("targets", [])]
    expressions, variables = check_promql.extract(DASHBOARD)
    assert [e.expr for e in expressions] == expected
    assert len(expressions) == 16
    assert {v["name"] for v in variables} == {"job", "instance"}
    assert any(e.where.startswith('panel "Response Latency" [D]') for e in expressions)


def test_extracts_panels_nested_in_collapsed_rows_and_skips_other_datasources():
    dashboard = {
        "dashboard": {
            "panels": [
                {"type": "timeseries", "title": "top", "targets": [{"refId": "A", "expr": "up"}]},
                {
                    "type": "row",
                    "title": "collapsed",
                    "collapsed": True,
                    "panels": [
                        {"type": "stat", "title": "inner", "targets": [{"refId": "B", "expr": "sum(up)"}]},
                        {
                            "type": "logs",
                            "title": "loki",
                            "datasource": {"type": "loki", "uid": "x"},
                            "targets": [{"refId": "C", "expr": '{job="x"}'}],
                        },
                    ],
                },
            ]
        }
    }
    found = check_promql.dashboard_expressions(dashboard, "d.json")
    assert [(e.where, e.expr) for e in found] == [('panel "top" [A]', "up"), ('panel "inner" [B]', "sum(up)")]


def test_extracts_prometheus_and_grafana_rule_files(tmp_path):
    prom = tmp_path / "rules.yml"
    prom.write_text(
        "groups:\n- name: APIs\n  rules:\n"
        '  - alert: Up\n    expr: up{job="app"} < 1\n    for: 5m\n'
        "  - record: job:rate\n    expr: sum by (job) (rate(x[5m]))\n"
    )
    grafana = tmp_path / "grafana-rules.yml"
    grafana.write_text(
        "apiVersion: 1\ngroups:\n- name: APIs\n  rules:\n  - title: HighLatency\n    data:\n"
        "    - refId: A\n      datasourceUid: PBFA97CFB590B2093\n      model: {expr: 'sum(rate(x[5m]))'}\n"
        "    - refId: B\n      datasourceUid: __expr__\n      model: {expression: A}\n"
    )
    assert [(e.where, e.expr) for e in check_promql.extract(prom)[0]] == [
        ('group "APIs" rule "Up"', 'up{job="app"} < 1'),
        ('group "APIs" rule "job:rate"', "sum by (job) (rate(x[5m]))"),
    ]
    assert [(e.where, e.expr) for e in check_promql.extract(grafana)[0]] == [
        ('group "APIs" rule "HighLatency" [A]', "sum(rate(x[5m]))")
    ]


# --- Substitution ----------------------------------------------------------------------------------------


def test_substitution_leaves_no_grafana_macro_or_variable_in_the_real_dashboard():
    expressions, variables = check_promql.extract(DASHBOARD)
    values = check_promql.variable_values(variables)
    assert values == {"job": ".*", "instance": ".*"}
    macro_values = check_promql.macros("1m", "15s", "5m")
    queries = [check_promql.substitute(e.expr, macro_values, values) for e in expressions]
    for query in queries:
        assert "$" not in query, query
    assert any("[1m]" in q and 'job=~".*", instance=~".*"' in q for q in queries)
    assert sum("[5m]" in q for q in queries) == 4  # the four status-class totals over $__range


def test_substitution_of_every_macro_form():
    macro_values = check_promql.macros("2m", "30s", "1h")
    values = check_promql.variable_values(
        [{"name": "job", "current": {"value": "backend"}}, {"name": "env", "includeAll": True, "allValue": "prod|dev"}],
        {"job": "override"},
    )
    expr = 'x{job="$job", env=~"${env}", i="[[job]]"}[$__rate_interval] $__interval $__range $__range_s ${__range_ms}'
    assert check_promql.substitute(expr, macro_values, values) == (
        'x{job="override", env=~"prod|dev", i="override"}[2m] 30s 1h 3600 3600000'
    )
    assert check_promql.substitute("$unknown", macro_values, values) == "$unknown"


# --- End to end against a real Prometheus -----------------------------------------------------------------

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10)
# Per scrape, each series gets these observations (seconds): the histogram grows between scrapes.
SERIES = {
    ("GET", "/api/v1/health", "200"): (0.0008, 0.0012, 0.002, 0.004, 0.03),
    ("GET", "/api/v1/info", "200"): (0.003, 0.006, 0.012, 0.2),
    ("GET", "<unmatched>", "404"): (0.0009, 0.0015),
    ("GET", "/metrics", "200"): (0.004,),
}


class FakeBackend(BaseHTTPRequestHandler):
    scrapes = 0
    lock = threading.Lock()

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path != "/metrics":
            self.send_error(404)
            return
        with self.lock:
            FakeBackend.scrapes += 1
            n = FakeBackend.scrapes
        lines = [
            "# HELP http_request_duration_seconds Duration of HTTP requests.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        for (method, path, status), observations in SERIES.items():
            labels = f'method="{method}",path="{path}",status_code="{status}"'
            for le in BUCKETS:
                count = n * sum(1 for o in observations if o <= le)
                lines.append(f'http_request_duration_seconds_bucket{{{labels},le="{le}"}} {count}')
            lines.append(f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {n * len(observations)}')
            lines.append(f"http_request_duration_seconds_count{{{labels}}} {n * len(observations)}")
            lines.append(f"http_request_duration_seconds_sum{{{labels}}} {n * sum(observations)}")
        lines += [
            "# HELP webdemo_build_info Version of the app.",
            "# TYPE webdemo_build_info gauge",
            'webdemo_build_info{python="3.11.2",version="0.1.0"} 1',
        ]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def instant(url, query):
    data = urllib.parse.urlencode({"query": query}).encode()
    with urllib.request.urlopen(url + "/api/v1/query", data=data, timeout=5) as response:  # noqa: S310 (loopback)
        return json.load(response)["data"]["result"]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    if not PROMETHEUS.exists():
        pytest.skip("Debian's prometheus is not installed (apt-get install --no-install-recommends prometheus)")
    tmp = tmp_path_factory.mktemp("prometheus")
    backend = ThreadingHTTPServer(("127.0.0.1", 0), FakeBackend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        f"  - job_name: app\n    static_configs: [{{targets: ['127.0.0.1:{backend.server_port}']}}]\n"
    )
    log = (tmp / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if instant(url, 'sum(rate(http_request_duration_seconds_count{job="app"}[1m])) > 0'):
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Prometheus never had rates: " + (tmp / "prometheus.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        backend.shutdown()
        backend.server_close()


def run_check(url, *args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--prometheus", url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_real_dashboard_and_rules_pass_against_real_prometheus(prometheus, tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text('groups:\n- name: APIs\n  rules:\n  - alert: Up\n    expr: up{job="app"} < 1\n')
    result = run_check(prometheus, str(DASHBOARD), str(rules), "--allow-empty", "ALERTS", "--allow-empty", "< 1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "17 passed, 0 failed (2 of the passed empty, allowed)" in result.stdout, result.stdout
    assert "EMPTY (allowed) " in result.stdout and 'panel "Firing alerts"' in result.stdout
    assert result.stdout.count("PASS ") == 15


def test_empty_result_fails_unless_allowed(prometheus):
    result = run_check(prometheus, str(DASHBOARD))
    assert result.returncode == 1, result.stdout
    assert "15 passed, 1 failed" in result.stdout
    assert 'panel "Firing alerts" [A]' in result.stdout and "empty result" in result.stdout


def test_syntax_error_and_missing_series_fail_naming_file_and_panel(prometheus, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps(
            {
                "uid": "broken",
                "panels": [
                    {"title": "Syntax", "targets": [{"refId": "A", "expr": "sum(rate(x[$__rate_interval])"}]},
                    {
                        "title": "No series",
                        "targets": [{"refId": "A", "expr": 'http_request_duration_seconds_count{path="/nope"}'}],
                    },
                ],
            }
        )
    )
    result = run_check(prometheus, str(broken))
    assert result.returncode == 1, result.stdout
    assert "0 passed, 2 failed" in result.stdout
    assert f'FAIL {broken} :: panel "Syntax" [A]' in result.stdout
    assert "bad_data" in result.stdout
    assert f'FAIL {broken} :: panel "No series" [A]' in result.stdout


def test_unreachable_prometheus_is_an_error_not_a_pass():
    result = run_check(f"http://127.0.0.1:{free_port()}", str(DASHBOARD))
    assert result.returncode == 2
    assert "not reachable" in result.stderr
