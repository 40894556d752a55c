"""jmeter/summary.py: per-label numbers, JMeter's percentile method, throughput and the SLO gate."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

JMETER = Path(__file__).resolve().parent.parent / "jmeter"
FIXTURES = JMETER / "tests" / "fixtures"
_spec = importlib.util.spec_from_file_location("jmeter_summary", JMETER / "summary.py")
summary = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = summary  # dataclasses look their module up there
_spec.loader.exec_module(summary)


def rows_by_label(path):
    return {row.label: row for row in summary.summarise(summary.read_jtl(path))}


# --- a hand-made file whose numbers are computed by hand ------------------------------------------------
# A: elapsed 10, 20, ..., 100 ms, samples 4 and 8 failed (500), starts every 500 ms from t0.
# B: 200 ms (ok) at t0+5.0 s and 400 ms (assertion failed) at t0+5.6 s, so the run ends at t0+6.0 s.
# Percentile position p/100*(n+1): A p50 -> 5.5 -> 50+0.5*10 = 55; A p95 -> 10.45 >= n -> 100;
# B p50 -> 1.5 -> 300; Total (n=12) p50 -> 6.5 -> 65, p95 -> 12.35 -> 400.


def test_hand_made_file_gives_the_hand_computed_numbers():
    rows = rows_by_label(FIXTURES / "small.jtl")
    assert list(rows) == ["A", "B", "Total"]
    a, b, total = rows["A"], rows["B"], rows["Total"]
    assert (a.samples, a.errors, a.error_pct) == (10, 2, 20.0)
    assert (a.p50_ms, a.p95_ms, a.p99_ms, a.mean_ms, a.max_ms) == (55.0, 100.0, 100.0, 55.0, 100)
    assert (b.samples, b.errors, b.error_pct, b.p50_ms, b.p95_ms) == (2, 1, 50.0, 300.0, 400.0)
    assert (total.samples, total.errors, total.error_pct) == (12, 3, 25.0)
    assert (total.p50_ms, total.p95_ms, total.p99_ms) == (65.0, 400.0, 400.0)
    # 6.0 s of wall time for every row.
    assert (total.throughput, a.throughput, b.throughput) == (2.0, 10 / 6, 2 / 6)


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90, 99.0),  # pos 9.9: 90 + 0.9 * 10
        ([4, 1, 3, 2], 10, 1.0),  # pos 0.5 < 1: the smallest value
        ([4, 1, 3, 2], 50, 2.5),  # unsorted input
        ([7], 99, 7.0),
    ],
)
def test_percentile_uses_jmeters_estimator(values, p, expected):
    assert summary.percentile(values, p) == expected


def test_percentile_rejects_nonsense():
    with pytest.raises(ValueError):
        summary.percentile([], 50)
    with pytest.raises(ValueError):
        summary.percentile([1], 0)


def test_failure_reasons_are_counted_per_label():
    samples = summary.read_jtl(FIXTURES / "small.jtl")
    assert summary.failure_messages(samples) == [
        "2 x A: 500 Test failed: code expected to equal /200/",
        '1 x B: 200 Test failed: text expected to contain /"success": true/',
    ]


# --- a recorded run (JMeter 5.6.3, 4 threads, 15 s, loopback gunicorn) and JMeter's own dashboard numbers ---


def test_recorded_run_matches_jmeters_dashboard():
    """statistics.json is what `jmeter -e -o` computed from the same results.jtl."""
    rows = rows_by_label(FIXTURES / "results.jtl")
    dashboard = json.loads((FIXTURES / "statistics.json").read_text())
    assert set(rows) == set(dashboard) == {"GET /api/v1/health", "GET /api/v1/info", "Total"}
    for label, expected in dashboard.items():
        row = rows[label]
        assert (row.samples, row.errors) == (expected["sampleCount"], expected["errorCount"]), label
        assert row.p50_ms == pytest.approx(expected["medianResTime"]), label
        assert row.p95_ms == pytest.approx(expected["pct2ResTime"]), label
        assert row.p99_ms == pytest.approx(expected["pct3ResTime"]), label
        assert row.mean_ms == pytest.approx(expected["meanResTime"]), label
        assert row.max_ms == expected["maxResTime"], label
    assert rows["Total"].throughput == pytest.approx(dashboard["Total"]["throughput"], rel=1e-9)
    assert rows["Total"].samples == 480 and rows["Total"].errors == 0


# --- the SLO gate and the command line ------------------------------------------------------------------


def test_slo_gate_both_ways():
    rows = summary.summarise(summary.read_jtl(FIXTURES / "small.jtl"))
    assert summary.check_slo(rows, max_p95_ms=400, max_error_pct=25) == []
    assert summary.check_slo(rows, max_p95_ms=399, max_error_pct=25) == ["p95 400.0 ms > 399 ms"]
    assert summary.check_slo(rows, max_p95_ms=400, max_error_pct=24.9) == ["errors 25.00% (3/12) > 24.9%"]


def test_cli_passes_within_the_slo(capsys):
    code = summary.main([str(FIXTURES / "results.jtl"), "--no-plots"])
    out = capsys.readouterr().out
    assert code == 0
    assert "GET /api/v1/health" in out and "SLO met" in out


def test_cli_fails_with_a_clear_message_when_the_slo_is_missed(capsys):
    code = summary.main([str(FIXTURES / "results.jtl"), "--no-plots", "--max-p95-ms", "5"])
    assert code == 1
    assert "SLO MISSED: p95 30.9 ms > 5 ms" in capsys.readouterr().err


def test_cli_default_gate_fails_on_errors(capsys):
    assert summary.main([str(FIXTURES / "small.jtl"), "--no-plots", "--max-p95-ms", "1000"]) == 1
    assert "errors 25.00% (3/12) > 1%" in capsys.readouterr().err


def test_cli_rejects_a_file_without_header(tmp_path, capsys):
    jtl = tmp_path / "results.jtl"
    jtl.write_text("1000000,10,A,200,OK,Users 1-1,text,true,,100\n")
    assert summary.main([str(jtl), "--no-plots"]) == 2
    assert "missing columns" in capsys.readouterr().err
    assert summary.main([str(tmp_path / "absent.jtl"), "--no-plots"]) == 2


def test_plots_are_written_when_matplotlib_is_there(tmp_path):
    pytest.importorskip("matplotlib")
    pngs = summary.plot(summary.read_jtl(FIXTURES / "results.jtl"), tmp_path)
    assert [p.name for p in pngs] == ["latency-over-time.png", "throughput-over-time.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)


def test_prometheus_view_queries_the_run_window(monkeypatch):
    queries = []

    def fake(base_url, query, at, timeout):
        queries.append((query, at))
        return 42.0 if "histogram_quantile" not in query else 0.0125

    monkeypatch.setattr(summary, "_prometheus_scalar", fake)
    view = summary.prometheus_view("http://prom:9090", start=1000.0, end=1030.2)
    assert view == {"window_s": 31, "rate": 42.0, "p95_ms": 12.5}
    assert all(at == 1030.2 and "[31s]" in q and 'job="app"' in q for q, at in queries)
    # A run shorter than two scrapes still gets a window rate() can use.
    assert summary.prometheus_view("http://prom:9090", start=0, end=3)["window_s"] == 15
    assert not math.isnan(view["p95_ms"])


# --- a recorded distributed run (2 engines, gen1 and gen2 of the lab, merged by the controlling JMeter) -------


def test_distributed_run_is_merged_and_split_per_engine():
    """distributed-statistics.json is JMeter's dashboard of the merged distributed.jtl."""
    samples = summary.read_jtl(FIXTURES / "distributed.jtl")
    rows = {row.label: row for row in summary.summarise(samples)}
    dashboard = json.loads((FIXTURES / "distributed-statistics.json").read_text())
    for label, expected in dashboard.items():
        assert rows[label].samples == expected["sampleCount"], label
        assert rows[label].p95_ms == pytest.approx(expected["pct2ResTime"]), label
    assert summary.samples_per_engine(samples) == {"webdemo-lab-gen1:1099": 405, "webdemo-lab-gen2:1099": 418}
    assert sum(summary.samples_per_engine(samples).values()) == rows["Total"].samples


def test_local_run_has_one_local_engine():
    assert summary.samples_per_engine(summary.read_jtl(FIXTURES / "results.jtl")) == {"local": 480}


def test_cli_names_the_engines_of_a_distributed_run(capsys):
    assert summary.main([str(FIXTURES / "distributed.jtl"), "--no-plots"]) == 0
    assert "engines: 2 (samples: webdemo-lab-gen1:1099 405, webdemo-lab-gen2:1099 418)" in capsys.readouterr().out
