"""The request-duration histogram and /metrics exposition (single-process mode)."""

import random
import string

from prometheus_client.parser import text_string_to_metric_families

from tests.wsgi_client import call


def _samples(body: bytes, name: str):
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name:
                yield sample


def _counts(app) -> dict[tuple[str, str, str], float]:
    res = call(app, "/metrics")
    assert res.status == 200
    return {
        (s.labels["method"], s.labels["path"], s.labels["status_code"]): s.value
        for s in _samples(res.body, "http_request_duration_seconds_count")
    }


def test_metrics_content_type_is_prometheus_text(app):
    res = call(app, "/metrics")
    assert res.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_metrics_negotiates_openmetrics(app):
    res = call(app, "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert res.headers["content-type"].startswith("application/openmetrics-text")
    assert res.body.rstrip().endswith(b"# EOF")


def test_histogram_uses_route_template_and_status(app):
    for _ in range(3):
        call(app, "/api/v1/health")
    call(app, "/api/v1/health", method="POST")
    call(app, "/api/v1/info")
    counts = _counts(app)
    assert counts[("GET", "/api/v1/health", "200")] == 3
    assert counts[("GET", "/api/v1/info", "200")] == 1
    assert counts[("POST", "<unmatched>", "405")] == 1


def test_histogram_has_150ms_bucket(app):
    call(app, "/api/v1/health")
    body = call(app, "/metrics").body
    les = {s.labels["le"] for s in _samples(body, "http_request_duration_seconds_bucket")}
    assert {"0.1", "0.15", "0.25", "+Inf"} <= les


def test_unknown_paths_and_methods_cannot_grow_label_values(app):
    rng = random.Random(42)
    for _ in range(100):
        path = "/" + "".join(rng.choices(string.ascii_letters + "/%", k=12))
        method = rng.choice(["GET", "BREW", "PROPFIND", "X" * 20])
        assert call(app, path, method=method).status in (404, 405)
    counts = _counts(app)
    paths = {path for _, path, _ in counts}
    methods = {method for method, _, _ in counts}
    assert paths == {"<unmatched>"}
    assert methods <= {"GET", "other"}
    assert sum(counts.values()) == 100


def test_scrape_is_observed_after_it_is_served(app):
    assert ("GET", "/metrics", "200") not in _counts(app)
    assert _counts(app)[("GET", "/metrics", "200")] == 1


def test_build_info_metric(app):
    body = call(app, "/metrics").body
    (sample,) = _samples(body, "webdemo_build_info")
    assert sample.value == 1
    assert sample.labels["version"] == "0.1.0"


def test_metrics_disabled_is_404_and_nothing_is_observed(make_app):
    app = make_app(WEBDEMO_METRICS_ENABLED="false")
    assert app.metrics is None
    assert call(app, "/api/v1/health").status == 200
    res = call(app, "/metrics")
    assert res.status == 404
    assert res.json() == {"success": False, "error": "not found"}


def test_multiprocess_fast_observer_writes_what_prometheus_client_writes(tmp_path, monkeypatch):
    """The mmap observer (two struct writes) and prometheus_client's own observe give the same
    scrape, bucket by bucket, in multiprocess mode (in a child process: the value class is chosen
    at import time from PROMETHEUS_MULTIPROC_DIR)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import sys
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess
        from webdemo.metrics import Metrics, _mmap_observer

        fast, public = Metrics(sys.argv[1]), Metrics(sys.argv[1])
        amounts = [0.0, 0.0004, 0.001, 0.0011, 0.003, 0.15, 0.1500001, 7.0, 10.0, 11.0, 1e9]
        observe = fast.observer("GET", "/fast", "200")
        assert "_mmap_observer" in observe.__qualname__, "the mmap observer is in use"
        child = public.duration.labels("GET", "/public", "200")
        for amount in amounts * 3:
            observe(amount)
            child.observe(amount)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=sys.argv[1])
        text = generate_latest(registry).decode()
        lines = sorted(line for line in text.splitlines() if "/fast" in line)
        twins = sorted(
            line.replace("/public", "/fast") for line in text.splitlines() if "/public" in line
        )
        assert lines == twins and len(lines) == 17, (lines, twins)
        print("ok")
        """
    )
    src = __import__("pathlib").Path(__file__).resolve().parents[2] / "src"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "ok", out.stderr
