"""Generate webdemo's Grafana dashboards (deterministic output) into files/grafana/dashboards/.

    webdemo-dashboards          # (re)write files/grafana/dashboards/*.json
    webdemo-dashboards --check  # exit 1 when a committed dashboard is out of date

Every panel and query uses the Prometheus datasource of files/grafana/datasources.yml (the uid the grafana role
provisions). Every panel shows a latency, a rate, a ratio or a total over the dashboard's range: never a raw
counter. The app's histogram is `http_request_duration_seconds{method, path, status_code}` (path = route
template), scraped by the Prometheus job `app`. Run it anywhere inside the repository (it finds the directory
holding files/grafana/), or name the paths with --out-dir and --datasources.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from webdemo_tools.repo import find_root

DATASOURCES = Path("files") / "grafana" / "datasources.yml"
DASHBOARDS_DIR = Path("files") / "grafana" / "dashboards"
METRIC = "http_request_duration_seconds"
# Template variables: every backend query is filtered by them ("All" = the regex .*).
SEL = 'job=~"$job", instance=~"$instance"'
RATE = "$__rate_interval"
QUANTILES = (0.5, 0.95, 0.99)


def sel(extra=""):
    return "{" + SEL + (", " + extra if extra else "") + "}"


def target(ds, expr, legend, ref, *, instant=False, table=False):
    tgt = {
        "datasource": ds,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
        "refId": ref,
    }
    if table:
        tgt["format"] = "table"
    return tgt


def refs():
    return iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def quantile(q, by):
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({METRIC}_bucket{sel()}[{RATE}])))"


def timeseries(ds, title, description, targets, unit, grid, *, stack=False, max_value=None):
    defaults = {
        "unit": unit,
        "min": 0,
        "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10 if not stack else 60,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        },
    }
    if max_value is not None:
        defaults["max"] = max_value
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": ds,
        "gridPos": grid,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max", "lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
    }


def stat(ds, title, description, expr, color, grid, *, mappings=None, legend="", unit="short"):
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": ds,
        "gridPos": grid,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "decimals": 0,
                "color": {"mode": "fixed", "fixedColor": color} if color else {"mode": "thresholds"},
                "mappings": mappings or [],
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}],
                },
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "center",
            "textMode": "value_and_name" if legend else "value",
            "orientation": "auto",
        },
        "targets": [target(ds, expr, legend, "A", instant=True)],
    }


def row(title, y):
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
        "panels": [],
    }


def api_latency(ds):
    """The "API Latency" dashboard, every panel and query on the Prometheus datasource `ds`."""
    panels = []
    y = 0
    panels.append(row("Latency", y))
    y += 1

    ids = refs()
    latency_targets = [
        target(ds, quantile(q, "job"), f"p{round(q * 100)} {{{{job}}}}", next(ids)) for q in QUANTILES
    ] + [
        target(
            ds,
            f"sum by (job) (rate({METRIC}_sum{sel()}[{RATE}]))\n  / sum by (job) (rate({METRIC}_count{sel()}[{RATE}]))",
            "mean {{job}}",
            next(ids),
        )
    ]
    panels.append(
        timeseries(
            ds,
            "Response Latency",
            "p50/p95/p99 of every request per job (histogram_quantile over the buckets' rates), and the mean "
            "(rate of the durations' sum / rate of the request count).",
            latency_targets,
            "s",
            {"h": 9, "w": 12, "x": 0, "y": y},
        )
    )
    ids = refs()
    panels.append(
        timeseries(
            ds,
            "p50/p95/p99 per route",
            "Latency quantiles per route template (path label).",
            [target(ds, quantile(q, "path"), f"p{round(q * 100)} {{{{path}}}}", next(ids)) for q in QUANTILES],
            "s",
            {"h": 9, "w": 12, "x": 12, "y": y},
        )
    )
    y += 9

    panels.append(row("Traffic and errors", y))
    y += 1
    panels.append(
        timeseries(
            ds,
            "Request rate",
            "Requests per second per route template.",
            [target(ds, f"sum by (path) (rate({METRIC}_count{sel()}[{RATE}]))", "{{path}}", "A")],
            "reqps",
            {"h": 8, "w": 8, "x": 0, "y": y},
        )
    )
    all_rate = f"sum by (job) (rate({METRIC}_count{sel()}[{RATE}]))"
    errors_sel = sel('status_code=~"5.."')
    errors_rate = f"sum by (job) (rate({METRIC}_count{errors_sel}[{RATE}]))"
    panels.append(
        timeseries(
            ds,
            "Error ratio",
            "Share of responses with a 5xx status per job (0 while there is traffic and no 5xx).",
            [target(ds, f"({errors_rate}\n  or {all_rate} * 0)\n/ {all_rate}", "5xx {{job}}", "A")],
            "percentunit",
            {"h": 8, "w": 8, "x": 8, "y": y},
            max_value=1,
        )
    )
    panels.append(
        timeseries(
            ds,
            "APIs <> StatusCode",
            "Requests per second per route template and status code.",
            [
                target(
                    ds,
                    f"sum by (path, status_code) (rate({METRIC}_count{sel()}[{RATE}]))",
                    "{{path}} {{status_code}}",
                    "A",
                )
            ],
            "reqps",
            {"h": 8, "w": 8, "x": 16, "y": y},
            stack=True,
        )
    )
    y += 8

    panels.append(row("Totals over the dashboard's time range", y))
    y += 1
    colors = {"2": "green", "3": "blue", "4": "orange", "5": "red"}
    for i, (klass, color) in enumerate(colors.items()):
        class_sel = sel(f'status_code=~"{klass}.."')
        expr = f"sum(increase({METRIC}_count{class_sel}[$__range]))"
        if klass != "2":
            # No response of that class in the range is a real 0; 2xx stays "No data" when there is no traffic.
            expr += " or vector(0)"
        panels.append(
            stat(
                ds,
                f"{klass}xx responses",
                f"Responses with a {klass}xx status over the dashboard's time range.",
                expr,
                color,
                {"h": 5, "w": 4, "x": i * 4, "y": y},
            )
        )
    panels.append(
        stat(
            ds,
            "Backends up",
            "Scrape health of each backend (job app): 1 = scraped, 0 = down.",
            'up{job="app"}',
            None,
            {"h": 5, "w": 8, "x": 16, "y": y},
            mappings=[
                {
                    "type": "value",
                    "options": {"0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}},
                }
            ],
            legend="{{instance}}",
        )
    )
    y += 5

    panels.append(row("Alerts", y))
    y += 1
    panels.append(
        {
            "type": "table",
            "title": "Firing alerts",
            "description": "Prometheus' firing alerts (rules HighLatency, Up); Grafana evaluates no rule itself.",
            "datasource": ds,
            "gridPos": {"h": 6, "w": 24, "x": 0, "y": y},
            "fieldConfig": {"defaults": {}, "overrides": []},
            "options": {"showHeader": True, "cellHeight": "sm"},
            "transformations": [
                {
                    "id": "organize",
                    "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "alertstate": True}},
                }
            ],
            "targets": [target(ds, 'ALERTS{alertstate="firing"}', "", "A", instant=True, table=True)],
        }
    )

    for panel_id, panel in enumerate(panels, start=1):
        panel["id"] = panel_id

    def variable(name, label, query):
        return {
            "type": "query",
            "name": name,
            "label": label,
            "datasource": ds,
            "definition": query,
            "query": {"query": query, "refId": f"PrometheusVariableQueryEditor-VariableQuery-{name}"},
            "refresh": 2,
            "includeAll": True,
            "multi": True,
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1,
            "hide": 0,
            "options": [],
            "regex": "",
        }

    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": f"Latency, traffic and errors of the webdemo API, from its {METRIC} histogram.",
        "editable": False,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": panels,
        "refresh": "10s",
        "schemaVersion": 39,
        "tags": ["webdemo", "api"],
        "templating": {
            "list": [
                variable("job", "Job", f"label_values({METRIC}_count, job)"),
                variable("instance", "Instance", f'label_values({METRIC}_count{{job=~"$job"}}, instance)'),
            ]
        },
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": "API Latency",
        "uid": "webdemo-api-latency",
        "version": 1,
        "weekStart": "",
    }


DASHBOARDS = {"api-latency.json": api_latency}


def prometheus_datasource(path: Path) -> dict:
    """The dashboards' datasource reference, {"type": "prometheus", "uid": ...}, from datasources.yml."""
    entry = yaml.safe_load(path.read_text(encoding="utf-8"))["prometheus"]
    return {"type": entry["type"], "uid": entry["uid"]}


def render(build, datasource):
    return json.dumps(build(datasource), indent=2, sort_keys=True) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when a committed dashboard is out of date")
    parser.add_argument("--out-dir", type=Path, help=f"default: the repository's {DASHBOARDS_DIR}")
    parser.add_argument("--datasources", type=Path, help=f"default: the repository's {DATASOURCES}")
    args = parser.parse_args(argv)
    if args.out_dir is None or args.datasources is None:
        try:
            root = find_root()
        except FileNotFoundError as err:
            parser.error(str(err))
        args.out_dir = args.out_dir or root / DASHBOARDS_DIR
        args.datasources = args.datasources or root / DATASOURCES
    datasource = prometheus_datasource(args.datasources)
    stale = []
    for name, build in DASHBOARDS.items():
        path = args.out_dir / name
        text = render(build, datasource)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print("out of date (run webdemo-dashboards): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
