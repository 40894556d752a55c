#!/usr/bin/env python3
"""The tables and chart of bench/run.sh from its wrk outputs (called by run.sh; a measurement, nothing asserts).

    report.py WORKDIR OUT_PREFIX [--latest DIR]
    report.py bench/results/<stamp>.json bench/results/<stamp> [--latest DIR]   # re-render a run's md and png

WORKDIR holds run.sh's config.json, wrk-<target>-<round>.txt (wrk --latency), warmup-<target>.txt and
metrics-<server>.txt. Writes OUT_PREFIX.json (every round), OUT_PREFIX.md (the tables) and OUT_PREFIX.png (req/s and
p99 per target), and copies the md and png to DIR/latest.{md,png} with --latest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import textwrap
from pathlib import Path

PATHS = ("/api/v1/health", "/api/v1/info")
SERVERS = ("gunicorn", "granian")
# (slug in the file names, server or "nginx", metrics on/off/None, path or None), in table order.
TARGETS = [("static", "nginx", None, None)] + [
    (f"{server}-{state}{path.replace('/', '_')}", server, state, path)
    for path in PATHS
    for server in SERVERS
    for state in ("on", "off")
]
# Targets of issue #12 (ratios to nginx's static 200; p99 in ms; metrics cost in %).
TARGET_RATIO = {"granian": 0.30, "gunicorn": 0.10}
TARGET_P99_MS = {"granian": 6.0, "gunicorn": 8.0}
TARGET_METRICS_COST_PCT = 5.0
COUNT_LINE = re.compile(r'^http_request_duration_seconds_count\{[^}]*path="([^"]+)"[^}]*\} ([0-9.e+]+)$', re.M)


def label(server: str, state: str | None, path: str | None) -> str:
    if server == "nginx":
        return "nginx static `return 200` (the ceiling)"
    return f"{server}, metrics {state}, `{path}`"


def to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(text: str) -> dict:
    def latency(q: str) -> float | None:
        match = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        return to_ms(*match.groups()) if match else None

    requests = re.search(r"^\s+(\d+) requests in ([\d.]+)(\w+),", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "rps": float(re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M).group(1)),
        "requests": int(requests.group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(n) for n in sock.groups()) if sock else 0,
    }


def metrics_check(workdir: Path, runs: dict, warmups: dict, conns: int) -> dict:
    """Each metrics-on server's histogram _count (its workers summed) against the answers wrk got from it."""
    checks = {}
    for server in SERVERS:
        text = (workdir / f"metrics-{server}-on.txt").read_text()
        counted = {path: 0.0 for path in PATHS}
        for path, value in COUNT_LINE.findall(text):
            if path in counted:
                counted[path] += float(value)
        for path in PATHS:
            slug = f"{server}-on{path.replace('/', '_')}"
            got = sum(r["requests"] for r in runs[slug]) + warmups[slug]["requests"]
            got += 1 if path == "/api/v1/health" else 0  # run.sh's readiness request
            extra = int(counted[path]) - got
            n_runs = len(runs[slug]) + 1
            checks[f"{server} {path}"] = {
                "counted_by_metrics": int(counted[path]),
                "answered_to_wrk": got,
                "difference": extra,
                # wrk stops counting at its deadline: requests in flight then were served (and counted) too, at most
                # one per connection and run.
                "exact": 0 <= extra <= conns * n_runs,
            }
    return checks


def summarise(workdir: Path) -> dict:
    config = json.loads((workdir / "config.json").read_text())
    cpu = workdir / "cpu.json"
    config["cpu"] = json.loads(cpu.read_text()) if cpu.is_file() else None
    rounds = config["rounds"]
    runs = {
        slug: [parse_wrk((workdir / f"wrk-{slug}-{r}.txt").read_text()) for r in range(1, rounds + 1)]
        for slug, *_ in TARGETS
    }
    warmups = {slug: parse_wrk((workdir / f"warmup-{slug}.txt").read_text()) for slug, *_ in TARGETS}
    static = runs["static"]
    results = []
    for slug, server, state, path in TARGETS:
        rs = runs[slug]
        results.append(
            {
                "target": slug,
                "server": server,
                "metrics": state,
                "path": path,
                "label": label(server, state, path),
                "rps": statistics.median(r["rps"] for r in rs),
                "ratio_to_static": statistics.median(r["rps"] / s["rps"] for r, s in zip(rs, static, strict=True)),
                "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                "non_2xx": sum(r["non_2xx"] for r in rs),
                "socket_errors": sum(r["socket_errors"] for r in rs),
                "rounds": rs,
            }
        )
    costs = []
    for server in SERVERS:
        for path in PATHS:
            on, off = (runs[f"{server}-{state}{path.replace('/', '_')}"] for state in ("on", "off"))
            costs.append(
                {
                    "server": server,
                    "path": path,
                    "cost_pct": 100 * statistics.median(1 - a["rps"] / b["rps"] for a, b in zip(on, off, strict=True)),
                    "per_round_pct": [100 * (1 - a["rps"] / b["rps"]) for a, b in zip(on, off, strict=True)],
                }
            )
    by = {r["target"]: r for r in results}
    verdicts = []
    for server in SERVERS:
        for path in PATHS:
            r = by[f"{server}-on{path.replace('/', '_')}"]
            verdicts.append(
                {
                    "what": f"{server}, metrics on, {path}: ratio >= {TARGET_RATIO[server]:.2f}, "
                    f"p99 < {TARGET_P99_MS[server]:.0f} ms",
                    "measured": f"{r['ratio_to_static']:.3f}, p99 {r['p99_ms']:.2f} ms",
                    "met": r["ratio_to_static"] >= TARGET_RATIO[server] and r["p99_ms"] < TARGET_P99_MS[server],
                }
            )
    for c in costs:
        verdicts.append(
            {
                "what": f"metrics cost, {c['server']}, {c['path']}: <= {TARGET_METRICS_COST_PCT:.0f}%",
                "measured": f"{c['cost_pct']:.1f}% (rounds: {', '.join(f'{x:.1f}' for x in c['per_round_pct'])})",
                "met": c["cost_pct"] <= TARGET_METRICS_COST_PCT,
            }
        )
    config.update(cpus=os.cpu_count() or 0, python=platform.python_version(), machine=platform.machine())
    return {
        "config": config,
        "results": results,
        "metrics_cost": costs,
        "targets": verdicts,
        "metrics_exact": metrics_check(workdir, runs, warmups, int(config["wrk_connections"])),
    }


def _wrap(paragraph: str) -> str:
    return textwrap.fill(paragraph, width=118, break_long_words=False, break_on_hyphens=False)


def markdown(summary: dict, png_name: str) -> str:
    c = summary["config"]
    lines = [
        f"`bench/run.sh`, {c['stamp']}: wrk -t{c['wrk_threads']} -c{c['wrk_connections']}, {c['rounds']} rounds x "
        f"{c['duration']} per target (interleaved), through nginx {c['nginx']} on loopback, upstream keep-alive "
        f"{c['upstream_keepalive']}, {c['upstream']}, workers {c['workers']}, {c['cpus']} CPUs, load average "
        f"{c['load_before']} before and {c['load_after']} after (1, 5, 15 min). Medians over the rounds; the ratio is "
        "the median of each round's req/s over that round's static req/s.",
    ]
    if c.get("cpu"):
        cpu = c["cpu"]
        lines[0] += (
            f" CPU over the runs ({cpu['wall_s']:.0f} s): the bench (nginx, the servers, wrk) used "
            f"{cpu['bench_cores']:.2f} of {cpu['cpus']} cores, other jobs on the machine about "
            f"{cpu['other_cores']:.2f}."
        )
    lines = [_wrap(lines[0])]
    lines += [
        "",
        "| target | req/s | ratio to static | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in summary["results"]:
        lines.append(
            f"| {r['label']} | {r['rps']:,.0f} | {r['ratio_to_static']:.3f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['non_2xx'] + r['socket_errors']} |"
        )
    lines += ["", "| metrics cost (1 - on/off, median of rounds) | `/api/v1/health` | `/api/v1/info` |"]
    lines += ["|---|---:|---:|"]
    for server in SERVERS:
        cells = [f"{x['cost_pct']:.1f}%" for x in summary["metrics_cost"] if x["server"] == server]
        lines.append(f"| {server} | {' | '.join(cells)} |")
    lines += ["", "| issue #12 target | measured | met |", "|---|---|---|"]
    lines += [f"| {v['what']} | {v['measured']} | {'yes' if v['met'] else '**no**'} |" for v in summary["targets"]]
    exact = summary["metrics_exact"]
    lines += [
        "",
        _wrap(
            "Metrics exact (each metrics-on server's histogram `_count` over its workers vs the answers wrk counted; "
            "wrk stops counting at its deadline, so up to one request per connection and run more): "
            + "; ".join(
                f"{k}: {v['counted_by_metrics']:,} vs {v['answered_to_wrk']:,} ({'ok' if v['exact'] else 'MISMATCH'})"
                for k, v in exact.items()
            )
            + "."
        ),
        "",
        f"![req/s and p99 per target]({png_name})",
    ]
    return "\n".join(lines) + "\n"


def chart(summary: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    results = summary["results"]
    names = [r["label"].replace("`", "").replace(" (the ceiling)", "") for r in results]
    colours = [
        "#7f7f7f" if r["server"] == "nginx" else ("#1f77b4" if r["server"] == "gunicorn" else "#d62728")
        for r in results
    ]
    hatches = ["" if r["metrics"] != "off" else "//" for r in results]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True, gridspec_kw={"wspace": 0.05})
    y = range(len(results))
    for ax, key, title in ((ax1, "rps", "requests/s (median of rounds)"), (ax2, "p99_ms", "p99 latency, ms")):
        bars = ax.barh(list(y), [r[key] for r in results], color=colours, edgecolor="white")
        for bar, hatch in zip(bars, hatches, strict=True):
            bar.set_hatch(hatch)
        for i, r in enumerate(results):
            text = f"{r[key]:,.0f}" if key == "rps" else f"{r[key]:.2f}"
            if key == "rps" and r["server"] != "nginx":
                text += f"  ({r['ratio_to_static']:.3f}x)"
            ax.text(r[key], i, " " + text, va="center", fontsize=8)
        if key == "rps":
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:.0f}k"))
        ax.set_title(title, fontsize=10)
        ax.set_xlim(0, max(r[key] for r in results) * 1.35)
        ax.grid(axis="x", alpha=0.3)
    ax1.set_yticks(list(y), names, fontsize=8)
    ax1.invert_yaxis()
    c = summary["config"]
    fig.suptitle(
        f"webdemo through nginx on loopback, wrk -c{c['wrk_connections']}, {c['rounds']} x {c['duration']} "
        f"interleaved, {c['cpus']} CPUs ({c['stamp']}); hatched = metrics off; (x) = ratio to nginx static",
        fontsize=9,
    )
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("out", type=Path, help="output prefix: OUT.json, OUT.md, OUT.png")
    parser.add_argument("--latest", type=Path, help="also copy the md and png to DIR/latest.{md,png}")
    args = parser.parse_args(argv)
    if args.workdir.suffix == ".json":
        summary = json.loads(args.workdir.read_text())
    else:
        summary = summarise(args.workdir)
    prefix = args.out
    prefix.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{prefix}.json").write_text(json.dumps(summary, indent=2) + "\n")
    chart(summary, Path(f"{prefix}.png"))
    Path(f"{prefix}.md").write_text(markdown(summary, f"{prefix.name}.png"))
    print(markdown(summary, f"{prefix.name}.png"))
    print(f"bench: results in {prefix}.{{json,md,png}}")
    if args.latest:
        args.latest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f"{prefix}.png", args.latest / "latest.png")
        (args.latest / "latest.md").write_text(markdown(summary, "latest.png"))
        print(f"bench: copied to {args.latest}/latest.{{md,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
