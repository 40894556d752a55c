"""webdemo_tools.loadtest_summary: JMeter's statistics per label, JMeter's percentile method, the SLO gate."""

import json
import math
from pathlib import Path

import pytest
from webdemo_tools import loadtest_summary as summary

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Each results file next to the statistics.json JMeter's report generator (`jmeter -g <jtl> -o <dir>`) made of it.
STATISTICS = {
    "small.jtl": FIXTURES / "small-statistics.json",
    "results.jtl": FIXTURES / "statistics.json",
    "distributed.jtl": FIXTURES / "distributed-statistics.json",
}


def rows_by_label(jtl):
    return {row.label: row for row in summary.read_statistics(STATISTICS[jtl])}


def elapsed_of(samples, label):
    """Response times of one label's samples, or of all of them for the Total row."""
    return [s.elapsed_ms for s in samples if label in (s.label, summary.TOTAL)]


def cli(jtl, *args):
    return summary.main([str(FIXTURES / jtl), "--statistics", str(STATISTICS[jtl]), "--no-plots", *args])


# --- a hand-made file whose numbers are computed by hand ------------------------------------------------
# A: elapsed 10, 20, ..., 100 ms, samples 4 and 8 failed (500), starts every 500 ms from t0.
# B: 200 ms (ok) at t0+5.0 s and 400 ms (assertion failed) at t0+5.6 s, so the run ends at t0+6.0 s.
# Percentile position p/100*(n+1): A p50 -> 5.5 -> 50+0.5*10 = 55; A p95 -> 10.45 >= n -> 100;
# B p50 -> 1.5 -> 300; Total (n=12) p50 -> 6.5 -> 65, p95 -> 12.35 -> 400.
# Throughput: samples over the label's own span (JMeter's definition): A 10 in 4.6 s, B 2 in 1.0 s, all 12 in 6.0 s.


def test_hand_made_file_gives_the_hand_computed_numbers():
    rows = rows_by_label("small.jtl")
    assert list(rows) == ["A", "B", "Total"]
    a, b, total = rows["A"], rows["B"], rows["Total"]
    assert (a.samples, a.errors, a.error_pct) == (10, 2, 20.0)
    assert (a.p50_ms, a.p95_ms, a.p99_ms, a.mean_ms, a.max_ms) == (55.0, 100.0, 100.0, 55.0, 100)
    assert (b.samples, b.errors, b.error_pct, b.p50_ms, b.p95_ms) == (2, 1, 50.0, 300.0, 400.0)
    assert (total.samples, total.errors, total.error_pct) == (12, 3, 25.0)
    assert (total.p50_ms, total.p95_ms, total.p99_ms) == (65.0, 400.0, 400.0)
    assert (total.throughput, a.throughput, b.throughput) == pytest.approx((2.0, 10 / 4.6, 2 / 1.0))
    # The same numbers from the samples with the module's own estimator (the one the plots and capacity use).
    samples = summary.read_jtl(FIXTURES / "small.jtl")
    for label, row in rows.items():
        elapsed = elapsed_of(samples, label)
        assert (summary.percentile(elapsed, 50), summary.percentile(elapsed, 95)) == (row.p50_ms, row.p95_ms), label


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
    rows = rows_by_label("results.jtl")
    dashboard = json.loads((FIXTURES / "statistics.json").read_text())
    samples = summary.read_jtl(FIXTURES / "results.jtl")
    assert set(rows) == set(dashboard) == {"GET /api/v1/health", "GET /api/v1/info", "Total"}
    for label, expected in dashboard.items():
        row = rows[label]
        elapsed = elapsed_of(samples, label)
        assert (row.samples, row.errors) == (expected["sampleCount"], expected["errorCount"]), label
        assert row.samples == len(elapsed), label
        # The module's estimator over the samples gives JMeter's percentiles, so its own figures (plots,
        # capacity steps) are comparable with the report's.
        assert row.p50_ms == pytest.approx(expected["medianResTime"]) == summary.percentile(elapsed, 50), label
        assert row.p95_ms == pytest.approx(expected["pct2ResTime"]) == summary.percentile(elapsed, 95), label
        assert row.p99_ms == pytest.approx(expected["pct3ResTime"]) == summary.percentile(elapsed, 99), label
        assert row.mean_ms == pytest.approx(expected["meanResTime"]) == sum(elapsed) / len(elapsed), label
        assert row.max_ms == expected["maxResTime"] == max(elapsed), label
    assert rows["Total"].throughput == pytest.approx(dashboard["Total"]["throughput"], rel=1e-9)
    # JMeter's throughput: samples over the wall time from the first start to the last end.
    wall_ms = max(s.timestamp_ms + s.elapsed_ms for s in samples) - min(s.timestamp_ms for s in samples)
    assert rows["Total"].throughput == pytest.approx(len(samples) / (wall_ms / 1000), rel=1e-9)
    assert rows["Total"].samples == 480 and rows["Total"].errors == 0


# --- the SLO gate and the command line ------------------------------------------------------------------


def test_slo_gate_both_ways():
    rows = summary.read_statistics(STATISTICS["small.jtl"])
    assert summary.check_slo(rows, max_p95_ms=400, max_error_pct=25) == []
    assert summary.check_slo(rows, max_p95_ms=399, max_error_pct=25) == ["p95 400.0 ms > 399 ms"]
    assert summary.check_slo(rows, max_p95_ms=400, max_error_pct=24.9) == ["errors 25.00% (3/12) > 24.9%"]


def test_cli_passes_within_the_slo(capsys):
    code = cli("results.jtl")
    out = capsys.readouterr().out
    assert code == 0
    assert "GET /api/v1/health" in out and "SLO met" in out


def test_cli_fails_with_a_clear_message_when_the_slo_is_missed(capsys):
    code = cli("results.jtl", "--max-p95-ms", "5")
    assert code == 1
    assert "SLO MISSED: p95 30.9 ms > 5 ms" in capsys.readouterr().err


def test_cli_default_gate_fails_on_errors(capsys):
    assert cli("small.jtl", "--max-p95-ms", "1000") == 1
    assert "errors 25.00% (3/12) > 1%" in capsys.readouterr().err


def test_cli_rejects_a_file_without_header(tmp_path, capsys):
    jtl = tmp_path / "results.jtl"
    jtl.write_text("1000000,10,A,200,OK,Users 1-1,text,true,,100\n")
    assert summary.main([str(jtl), "--statistics", str(STATISTICS["small.jtl"]), "--no-plots"]) == 2
    assert "missing columns" in capsys.readouterr().err
    assert summary.main([str(tmp_path / "absent.jtl"), "--no-plots"]) == 2


def test_cli_reads_the_report_next_to_the_results_by_default(tmp_path, capsys):
    (tmp_path / "report").mkdir()
    (tmp_path / "results.jtl").write_bytes((FIXTURES / "results.jtl").read_bytes())
    assert summary.main([str(tmp_path / "results.jtl"), "--no-plots"]) == 2
    assert "statistics.json: no such file" in capsys.readouterr().err
    (tmp_path / "report" / "statistics.json").write_bytes((FIXTURES / "statistics.json").read_bytes())
    assert summary.main([str(tmp_path / "results.jtl"), "--no-plots"]) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ('{"A": {}}', "no 'Total' entry"),
        ('{"Total": {"sampleCount": 12}}', "'Total' lacks errorCount"),
    ],
)
def test_cli_rejects_a_broken_report(tmp_path, capsys, content, message):
    statistics = tmp_path / "statistics.json"
    statistics.write_text(content)
    assert summary.main([str(FIXTURES / "small.jtl"), "--statistics", str(statistics), "--no-plots"]) == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_a_report_of_another_run(capsys):
    """A stale report next to a new results file would gate the wrong run."""
    assert summary.main([str(FIXTURES / "small.jtl"), "--statistics", str(STATISTICS["results.jtl"])]) == 2
    assert "the report counts 480 samples, the results file 12" in capsys.readouterr().err


def test_plots_are_written_when_matplotlib_is_there(tmp_path):
    pytest.importorskip("matplotlib")
    pngs = summary.plot(summary.read_jtl(FIXTURES / "results.jtl"), tmp_path)
    assert [p.name for p in pngs] == ["latency-over-time.png", "throughput-over-time.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)


def test_prometheus_view_queries_the_run_window(monkeypatch):
    queries = []

    def fake(base_url, query, at, timeout, access=None):
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
    rows = rows_by_label("distributed.jtl")
    dashboard = json.loads((FIXTURES / "distributed-statistics.json").read_text())
    for label, expected in dashboard.items():
        elapsed = elapsed_of(samples, label)
        assert rows[label].samples == expected["sampleCount"] == len(elapsed), label
        assert rows[label].p95_ms == pytest.approx(expected["pct2ResTime"]) == summary.percentile(elapsed, 95), label
    assert summary.samples_per_engine(samples) == {"webdemo-lab-gen1:1099": 405, "webdemo-lab-gen2:1099": 418}
    assert sum(summary.samples_per_engine(samples).values()) == rows["Total"].samples


def test_local_run_has_one_local_engine():
    assert summary.samples_per_engine(summary.read_jtl(FIXTURES / "results.jtl")) == {"local": 480}


def test_cli_names_the_engines_of_a_distributed_run(capsys):
    assert cli("distributed.jtl") == 0
    assert "engines: 2 (samples: webdemo-lab-gen1:1099 405, webdemo-lab-gen2:1099 418)" in capsys.readouterr().out
