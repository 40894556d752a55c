"""Summary of a JMeter run (JMeter's own statistics plus what they lack), with an SLO gate.

    webdemo-loadtest-summary jmeter/results.jtl [--statistics jmeter/report/statistics.json]
        [--max-p95-ms 150] [--max-error-pct 1] [--prometheus https://monitor:9090 [--start EPOCH --end EPOCH]
        [--ca-file ca.crt --username USER (password in $WEBDEMO_PROMETHEUS_PASSWORD)]]
        [--plot-dir jmeter/report] [--no-plots]

The per-label table and the SLO gate use the numbers JMeter's HTML report computed from the same results
(report/statistics.json, written by `jmeter -e -o report`): samples, errors and error %, throughput, mean and
p50/p95/p99 per label and in total. p95/p99 are the report's second and third percentile columns, which
jmeter/jmeter.properties sets to 95 and 99 (aggregate_rpt_pct2/3). JMeter's throughput of a label is its samples
over that label's own time span, so the per-label figures need not add up to the total.

From results.jtl (CSV with a header line) it adds what the report does not give:
- the samples per engine of a distributed run: each remote engine names its threads
  "<host>:<port>-<thread group> N-M" (proof that every engine ran and how evenly the load was shared);
- the most frequent failure reasons;
- with --prometheus, what the server saw during the run window (the `app` job's histogram): request rate and
  p95 over the whole window, queried at its end (HTTPS with the CA and basic auth: webdemo_tools.promhttp);
- p95 and throughput per second as PNG plots (matplotlib, the tools package's optional `plots` dependency).

The report must be of that results file: a different total sample count is unusable input.
`percentile` is JMeter's own estimator (commons-math's "legacy" method) for figures the report does not have,
such as the per-second p95 of the plots or a steady window of the run.

Exit status: 0 SLO met, 1 SLO missed ("SLO MISSED: ..." on stderr), 2 unusable input.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from webdemo_tools import promhttp

TOTAL = "Total"
REQUIRED_COLUMNS = ("timeStamp", "elapsed", "label", "responseCode", "success", "failureMessage")
# statistics.json fields of each label, as JMeter 5.x writes them.
STATISTICS_FIELDS = (
    "sampleCount",
    "errorCount",
    "errorPct",
    "throughput",
    "meanResTime",
    "medianResTime",
    "pct2ResTime",
    "pct3ResTime",
    "maxResTime",
)
PROMETHEUS_RATE = 'sum(rate(http_request_duration_seconds_count{{job="app", path!="/metrics"}}[{window}s]))'
PROMETHEUS_P95 = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{{job="app", path!="/metrics"}}[{window}s])))'
)
# Thread names of a remote engine's samples: "<host>:<rmi port>-<thread group> N-M" (JMeter's RemoteJMeterEngine).
REMOTE_THREAD_NAME = re.compile(r"^(?P<engine>[^\s:]+:\d+)-")
LOCAL_ENGINE = "local"
# rate() needs two scrapes inside its window: never ask for less than this (scrape interval 5 s in the lab).
PROMETHEUS_MIN_WINDOW_S = 15


class SummaryError(Exception):
    """The input cannot be summarised (missing file, column or field, no samples, Prometheus unreachable)."""


@dataclass(frozen=True)
class Sample:
    timestamp_ms: int
    elapsed_ms: int
    label: str
    response_code: str
    success: bool
    failure_message: str
    bytes: int
    latency_ms: int
    connect_ms: int
    all_threads: int
    thread_name: str = ""


@dataclass(frozen=True)
class Row:
    label: str
    samples: int
    errors: int
    error_pct: float
    throughput: float  # requests per second, as JMeter's report computes it
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def _int(value: str | None) -> int:
    return int(value) if value not in (None, "") else 0


def read_jtl(path: str | Path) -> list[Sample]:
    """Read a CSV results.jtl written with print_field_names=true."""
    path = Path(path)
    if not path.is_file():
        raise SummaryError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise SummaryError(
                f"{path}: not a CSV results file with a header line (missing columns: {', '.join(missing)}); "
                "run JMeter with -q jmeter/jmeter.properties"
            )
        return [
            Sample(
                timestamp_ms=int(row["timeStamp"]),
                elapsed_ms=int(row["elapsed"]),
                label=row["label"],
                response_code=row["responseCode"],
                success=row["success"].strip().lower() == "true",
                failure_message=row.get("failureMessage") or "",
                bytes=_int(row.get("bytes")),
                latency_ms=_int(row.get("Latency")),
                connect_ms=_int(row.get("Connect")),
                all_threads=_int(row.get("allThreads")),
                thread_name=row.get("threadName") or "",
            )
            for row in reader
        ]


def read_statistics(path: str | Path) -> list[Row]:
    """JMeter's per-label statistics (report/statistics.json): one row per label (sorted), then the Total row."""
    path = Path(path)
    if not path.is_file():
        raise SummaryError(f"{path}: no such file (JMeter writes it with -e -o <report dir>)")
    try:
        statistics = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise SummaryError(f"{path}: not JSON ({error})") from error
    if not isinstance(statistics, dict) or TOTAL not in statistics:
        raise SummaryError(f"{path}: not JMeter's statistics.json (no {TOTAL!r} entry)")
    rows = []
    for label in [*sorted(set(statistics) - {TOTAL}), TOTAL]:
        entry = statistics[label]
        missing = [f for f in STATISTICS_FIELDS if not isinstance(entry, dict) or f not in entry]
        if missing:
            raise SummaryError(f"{path}: {label!r} lacks {', '.join(missing)}")
        rows.append(
            Row(
                label=label,
                samples=int(entry["sampleCount"]),
                errors=int(entry["errorCount"]),
                error_pct=float(entry["errorPct"]),
                throughput=float(entry["throughput"]),
                mean_ms=float(entry["meanResTime"]),
                p50_ms=float(entry["medianResTime"]),
                p95_ms=float(entry["pct2ResTime"]),
                p99_ms=float(entry["pct3ResTime"]),
                max_ms=float(entry["maxResTime"]),
            )
        )
    if rows[-1].samples == 0:
        raise SummaryError(f"{path}: no samples")
    return rows


def check_consistent(rows: list[Row], samples: list[Sample]) -> None:
    """Fail when the report was not made from these samples (a stale report next to a new results file)."""
    if not samples:
        raise SummaryError("no samples in the results file")
    if rows[-1].samples != len(samples):
        raise SummaryError(
            f"the report counts {rows[-1].samples} samples, the results file {len(samples)}: "
            "the report is not of this run"
        )


def percentile(values: list[float], p: float) -> float:
    """p-th percentile with JMeter's estimator (commons-math "legacy", Hyndman & Fan type 6, numpy "weibull").

    Over the n sorted values x[1..n], position pos = p/100 * (n + 1); pos < 1 gives x[1], pos >= n gives x[n],
    otherwise x[floor(pos)] interpolated linearly towards x[floor(pos) + 1].
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} outside (0, 100]")
    ordered = sorted(values)
    n = len(ordered)
    pos = p / 100 * (n + 1)
    if pos < 1:
        return float(ordered[0])
    if pos >= n:
        return float(ordered[-1])
    lower = math.floor(pos)
    fraction = pos - lower
    return ordered[lower - 1] + fraction * (ordered[lower] - ordered[lower - 1])


def run_window_s(samples: list[Sample]) -> tuple[float, float]:
    """Epoch seconds of the first sample's start and of the last sample's end."""
    start = min(s.timestamp_ms for s in samples)
    end = max(s.timestamp_ms + s.elapsed_ms for s in samples)
    return start / 1000, end / 1000


def format_table(rows: list[Row]) -> str:
    width = max(len(r.label) for r in rows)
    header = f"{'label':<{width}} {'samples':>8} {'errors':>7} {'err %':>6} {'req/s':>8} {'mean':>7} "
    header += f"{'p50':>7} {'p95':>7} {'p99':>7} {'max':>6}  (ms)"
    lines = [header]
    for r in rows:
        lines.append(
            f"{r.label:<{width}} {r.samples:>8} {r.errors:>7} {r.error_pct:>6.2f} {r.throughput:>8.2f} "
            f"{r.mean_ms:>7.1f} {r.p50_ms:>7.1f} {r.p95_ms:>7.1f} {r.p99_ms:>7.1f} {r.max_ms:>6.0f}"
        )
    return "\n".join(lines)


def samples_per_engine(samples: list[Sample]) -> dict[str, int]:
    """Samples per load-generating engine: "<host>:<port>" of a remote engine, "local" otherwise."""
    counts = Counter(
        match["engine"] if (match := REMOTE_THREAD_NAME.match(s.thread_name)) else LOCAL_ENGINE for s in samples
    )
    return dict(sorted(counts.items()))


def failure_messages(samples: list[Sample], limit: int = 5) -> list[str]:
    """The most frequent reasons of failed samples, as 'count x label: code message'."""
    counts: dict[str, int] = {}
    for s in samples:
        if not s.success:
            key = f"{s.label}: {s.response_code} {s.failure_message}".strip()
            counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [f"{count} x {key}" for key, count in ranked]


def check_slo(rows: list[Row], max_p95_ms: float, max_error_pct: float) -> list[str]:
    """Violations of the SLO by the Total row (empty when met)."""
    total = rows[-1]
    problems = []
    if total.p95_ms > max_p95_ms:
        problems.append(f"p95 {total.p95_ms:.1f} ms > {max_p95_ms:g} ms")
    if total.error_pct > max_error_pct:
        problems.append(f"errors {total.error_pct:.2f}% ({total.errors}/{total.samples}) > {max_error_pct:g}%")
    return problems


def _prometheus_scalar(
    base_url: str, query: str, at: float, timeout: float, access: promhttp.Access | None = None
) -> float | None:
    url = f"{base_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": f"{at:.3f}"})
    try:
        with (access or promhttp.Access()).open(url, timeout=timeout) as response:
            body = json.load(response)
    except (OSError, ValueError) as error:
        raise SummaryError(f"Prometheus query failed ({base_url}): {error}") from error
    if body.get("status") != "success":
        raise SummaryError(f"Prometheus query failed: {body.get('error', body)}")
    result = body["data"]["result"]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) else value


def prometheus_view(
    base_url: str, start: float, end: float, timeout: float = 10, access: promhttp.Access | None = None
) -> dict[str, float | None]:
    """Server-side request rate (req/s) and p95 (ms) over [start, end] (epoch seconds)."""
    window = max(math.ceil(end - start), PROMETHEUS_MIN_WINDOW_S)
    rate = _prometheus_scalar(base_url, PROMETHEUS_RATE.format(window=window), end, timeout, access)
    p95 = _prometheus_scalar(base_url, PROMETHEUS_P95.format(window=window), end, timeout, access)
    return {"window_s": window, "rate": rate, "p95_ms": None if p95 is None else p95 * 1000}


def plot(samples: list[Sample], directory: str | Path) -> list[Path]:
    """latency-over-time.png and throughput-over-time.png (1 s buckets); [] when matplotlib is missing."""
    try:
        import matplotlib  # noqa: PLC0415 (optional dependency)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("summary: matplotlib is not installed: no plots (the tools package's extra: webdemo-tools[plots])")
        return []
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    start = min(s.timestamp_ms for s in samples)
    labels = sorted({s.label for s in samples})
    buckets: dict[str, dict[int, list[Sample]]] = {label: {} for label in labels}
    for s in samples:
        buckets[s.label].setdefault((s.timestamp_ms + s.elapsed_ms - start) // 1000, []).append(s)

    latency_png = directory / "latency-over-time.png"
    fig, ax = plt.subplots(figsize=(10, 4))
    for label in labels:
        seconds = sorted(buckets[label])
        ax.plot(seconds, [percentile([s.elapsed_ms for s in buckets[label][t]], 95) for t in seconds], label=label)
    ax.set(title="p95 response time per second", xlabel="seconds since start", ylabel="ms")
    ax.legend()
    fig.tight_layout()
    fig.savefig(latency_png)
    plt.close(fig)

    throughput_png = directory / "throughput-over-time.png"
    fig, ax = plt.subplots(figsize=(10, 4))
    for label in labels:
        seconds = sorted(buckets[label])
        ax.plot(seconds, [len(buckets[label][t]) for t in seconds], label=f"{label} (responses/s)")
        errors = [sum(not s.success for s in buckets[label][t]) for t in seconds]
        if any(errors):
            ax.plot(seconds, errors, linestyle="--", label=f"{label} (errors/s)")
    ax.set(title="throughput per second", xlabel="seconds since start", ylabel="responses/s")
    ax.legend()
    fig.tight_layout()
    fig.savefig(throughput_png)
    plt.close(fig)
    return [latency_png, throughput_png]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("jtl", type=Path, help="results.jtl (CSV with header)")
    parser.add_argument(
        "--statistics", type=Path, help="JMeter's statistics.json of that run (default: <jtl dir>/report/)"
    )
    parser.add_argument("--max-p95-ms", type=float, default=150, help="SLO: largest p95 of all samples (ms)")
    parser.add_argument("--max-error-pct", type=float, default=1, help="SLO: largest error percentage")
    parser.add_argument("--prometheus", metavar="URL", help="also show Prometheus' view of the run")
    promhttp.add_arguments(parser)
    parser.add_argument("--start", type=float, help="run start, epoch seconds (default: from the results)")
    parser.add_argument("--end", type=float, help="run end, epoch seconds (default: from the results)")
    parser.add_argument("--plot-dir", type=Path, help="where the PNG plots go (default: <jtl dir>/report)")
    parser.add_argument("--no-plots", action="store_true", help="do not draw the plots")
    args = parser.parse_args(argv)

    try:
        samples = read_jtl(args.jtl)
        rows = read_statistics(args.statistics or args.jtl.parent / "report" / "statistics.json")
        check_consistent(rows, samples)
    except SummaryError as error:
        print(f"summary: {error}", file=sys.stderr)
        return 2
    print(format_table(rows))
    engines = samples_per_engine(samples)
    if set(engines) != {LOCAL_ENGINE}:
        shares = ", ".join(f"{engine} {count}" for engine, count in engines.items())
        print(f"engines: {len(engines)} (samples: {shares})")
    for message in failure_messages(samples):
        print(f"  failed: {message}")
    total = rows[-1]
    if args.prometheus:
        first, last = run_window_s(samples)
        start = args.start if args.start is not None else first
        end = args.end if args.end is not None else last
        try:
            view = prometheus_view(args.prometheus, start, end, access=promhttp.from_arguments(args, parser))
        except SummaryError as error:
            print(f"summary: {error}", file=sys.stderr)
            return 2

        def show(value: float | None, unit: str) -> str:
            return "no data" if value is None else f"{value:.1f} {unit}"

        print(
            f"client (JMeter):    {total.throughput:.1f} req/s, p95 {total.p95_ms:.1f} ms\n"
            f"server (Prometheus, {view['window_s']} s window): {show(view['rate'], 'req/s')}, "
            f"p95 {show(view['p95_ms'], 'ms')} (histogram buckets: an upper bound, without network and nginx)"
        )
    if not args.no_plots:
        for png in plot(samples, args.plot_dir or args.jtl.parent / "report"):
            print(f"plot: {png}")
    problems = check_slo(rows, args.max_p95_ms, args.max_error_pct)
    if problems:
        print(f"SLO MISSED: {'; '.join(problems)}", file=sys.stderr)
        return 1
    print(
        f"SLO met: p95 {total.p95_ms:.1f} ms <= {args.max_p95_ms:g} ms, errors {total.error_pct:.2f}% <= "
        f"{args.max_error_pct:g}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
