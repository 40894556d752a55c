"""Evaluate every PromQL expression of Grafana dashboards and rule files against a real Prometheus.

    WEBDEMO_PROMETHEUS_PASSWORD=... webdemo-check-promql --prometheus https://monitor:9090 \\
        --ca-file ca.crt --username webdemo-monitoring \\
        files/grafana/dashboards/*.json files/prometheus/webdemo.yml --allow-empty ALERTS

Sources: dashboard JSON (panel targets' `expr`, panels nested in rows included; a file exported with a
`{"dashboard": ...}` wrapper works too), Prometheus rule files (`groups[].rules[].expr`) and Grafana alert rule
files (`groups[].rules[].data[].model.expr`), YAML or JSON. Grafana's macros are replaced with concrete values
($__rate_interval, $__interval, $__range, ...) and template variables with `.*` (multi-value/"All" variables)
or their current value; `--var NAME=VALUE` overrides one.

Each expression is evaluated with /api/v1/query (instant). It fails when Prometheus returns an error or an
empty result, unless its text contains an `--allow-empty` substring: those are reported "empty (allowed)".
A file without any expression is a failure too. Exit 0 when nothing failed, 1 otherwise, 2 when Prometheus
cannot be reached (or refuses the credentials). Prometheus' access (HTTPS, CA, basic auth): webdemo_tools.promhttp.
"""

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import yaml

from webdemo_tools import promhttp


@dataclass
class Expression:
    source: str  # file
    where: str  # panel title / rule name, with refId
    expr: str  # as written
    query: str = ""  # after substitution


# ----------------------------------------------------------------------------------------------------------
# Extraction


def _walk_panels(panels):
    for panel in panels or []:
        yield panel
        # Rows (collapsed rows keep their panels inside the row) and library-panel-like nesting.
        yield from _walk_panels(panel.get("panels"))


def _is_prometheus(datasource, default=True):
    if datasource is None:
        return default
    if isinstance(datasource, str):  # old schema: datasource name; "-- Grafana --" / "-- Mixed --" are not PromQL
        return not datasource.startswith("-- ")
    kind = datasource.get("type")
    return kind is None or kind == "prometheus"


def dashboard_expressions(dashboard, source):
    """Every PromQL `expr` of a dashboard (panels, rows' nested panels, old-schema `rows`)."""
    if "dashboard" in dashboard and "panels" not in dashboard:
        dashboard = dashboard["dashboard"]
    panels = list(dashboard.get("panels") or [])
    for old_row in dashboard.get("rows") or []:  # schema < 16
        panels.extend(old_row.get("panels") or [])
    found = []
    for panel in _walk_panels(panels):
        panel_is_prom = _is_prometheus(panel.get("datasource"))
        for tgt in panel.get("targets") or []:
            expr = tgt.get("expr")
            if not expr or not _is_prometheus(tgt.get("datasource"), default=panel_is_prom):
                continue
            title = panel.get("title") or f"panel {panel.get('id', '?')}"
            found.append(Expression(source, f'panel "{title}" [{tgt.get("refId", "?")}]', expr))
    return found


def rule_expressions(document, source):
    """Prometheus rules' `expr` and Grafana-managed rules' queries (`data[].model.expr`)."""
    found = []
    for group in (document or {}).get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record") or rule.get("title") or rule.get("uid") or "?"
            where = f'group "{group.get("name", "?")}" rule "{name}"'
            if isinstance(rule.get("expr"), str):
                found.append(Expression(source, where, rule["expr"]))
            for query in rule.get("data") or []:
                expr = (query.get("model") or {}).get("expr")
                if expr and query.get("datasourceUid") != "__expr__":
                    found.append(Expression(source, f"{where} [{query.get('refId', '?')}]", expr))
    return found


def load(path):
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith(".json"):
        return json.loads(text)
    return yaml.safe_load(text)


def extract(path):
    """(expressions, template variables) of one file."""
    document = load(path)
    if not isinstance(document, dict):
        raise ValueError("neither a dashboard nor a rule file")
    if "groups" in document:
        return rule_expressions(document, str(path)), []
    dashboard = document["dashboard"] if "dashboard" in document and "panels" not in document else document
    variables = (dashboard.get("templating") or {}).get("list") or []
    return dashboard_expressions(dashboard, str(path)), variables


# ----------------------------------------------------------------------------------------------------------
# Substitution

DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration):
    match = DURATION.match(duration)
    if not match:
        raise ValueError(f"not a duration: {duration}")
    return int(match.group(1)) * SECONDS[match.group(2)]


def macros(rate_interval="1m", interval="15s", range_="5m"):
    rng = seconds(range_)
    return {
        "__rate_interval_ms": str(int(seconds(rate_interval) * 1000)),
        "__rate_interval": rate_interval,
        "__interval_ms": str(int(seconds(interval) * 1000)),
        "__interval": interval,
        "__range_ms": str(int(rng * 1000)),
        "__range_s": str(int(rng)),
        "__range": range_,
    }


def variable_values(variables, overrides=None):
    """A concrete value per template variable: `.*` (or its allValue) for multi/"All" ones, else its current value."""
    values = {}
    for var in variables:
        name = var.get("name")
        if not name:
            continue
        current = (var.get("current") or {}).get("value")
        if isinstance(current, list):
            current = current[0] if len(current) == 1 else None
        if var.get("multi") or var.get("includeAll") or current in (None, "", "$__all"):
            value = var.get("allValue") or ".*"
        else:
            value = current
        values[name] = str(value)
    values.update(overrides or {})
    return values


_REFERENCE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")


def substitute(expr, macro_values, var_values):
    """Replace Grafana's macros and template variables; unknown `$names` are left for Prometheus to reject."""

    def replace(match):
        name = match.group(1) or match.group(2) or match.group(3)
        if name in macro_values:
            return macro_values[name]
        if name in var_values:
            return var_values[name]
        return match.group(0)

    return _REFERENCE.sub(replace, expr)


# ----------------------------------------------------------------------------------------------------------
# Evaluation


def query_prometheus(base_url, query, timeout, access=None):
    """("ok", number of results) or ("error", message)."""
    data = urllib.parse.urlencode({"query": query}).encode()
    url = base_url.rstrip("/") + "/api/v1/query"
    try:
        with (access or promhttp.Access()).open(url, data=data, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as err:  # 400/422: Prometheus explains in JSON
        try:
            body = json.load(err)
        except ValueError:
            return "error", f"HTTP {err.code}"
    if body.get("status") != "success":
        return "error", f"{body.get('errorType', 'error')}: {body.get('error', body)}"
    result = body["data"]["result"]
    if body["data"].get("resultType") in ("scalar", "string"):
        return "ok", 1
    return "ok", len(result)


def check_reachable(base_url, timeout, access=None):
    try:
        with (access or promhttp.Access()).open(
            base_url.rstrip("/") + "/api/v1/status/buildinfo", timeout=timeout
        ) as resp:
            return json.load(resp).get("data", {}).get("version", "?")
    except (urllib.error.URLError, OSError, ValueError) as err:  # HTTPError 401 included: wrong or no credentials
        print(f"webdemo-check-promql: Prometheus at {base_url} is not reachable: {err}", file=sys.stderr)
        sys.exit(2)


def one_line(text):
    return " ".join(text.split())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, help="dashboard JSON, Prometheus or Grafana rule files")
    parser.add_argument("--prometheus", required=True, help="base URL, e.g. https://monitor:9090")
    promhttp.add_arguments(parser)
    parser.add_argument(
        "--allow-empty",
        action="append",
        default=[],
        metavar="EXPR_SUBSTRING",
        help="an expression containing this may return no series (reported as empty (allowed)); repeatable",
    )
    parser.add_argument("--rate-interval", default="1m", help="value of $__rate_interval (default 1m)")
    parser.add_argument("--interval", default="15s", help="value of $__interval (default 15s)")
    parser.add_argument("--range", dest="range_", default="5m", help="value of $__range (default 5m)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="template variable value")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per query")
    args = parser.parse_args(argv)

    if not re.match(r"^https?://", args.prometheus):
        parser.error(f"--prometheus {args.prometheus}: expected an http:// or https:// URL")
    try:
        macro_values = macros(args.rate_interval, args.interval, args.range_)
    except ValueError as err:
        parser.error(str(err))
    overrides = {}
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--var {item}: expected NAME=VALUE")
        overrides[name] = value

    access = promhttp.from_arguments(args, parser)
    version = check_reachable(args.prometheus, args.timeout, access)
    print(f"Prometheus {version} at {args.prometheus}")

    failures = []
    passed = empty_allowed = 0
    for path in args.files:
        try:
            expressions, variables = extract(path)
        except (OSError, ValueError) as err:
            failures.append(f"FAIL {path}: cannot read: {err}")
            print(failures[-1])
            continue
        if not expressions:
            failures.append(f"FAIL {path}: no PromQL expression found")
            print(failures[-1])
            continue
        var_values = variable_values(variables, overrides)
        for item in expressions:
            item.query = substitute(item.expr, macro_values, var_values)
            status, detail = query_prometheus(args.prometheus, item.query, args.timeout, access)
            label = f"{item.source} :: {item.where} :: {one_line(item.query)}"
            if status == "error":
                failures.append(f"FAIL {label}\n     error: {detail}")
                print(failures[-1])
            elif detail == 0 and any(s in item.expr for s in args.allow_empty):
                empty_allowed += 1
                passed += 1
                print(f"EMPTY (allowed) {label}")
            elif detail == 0:
                failures.append(f"FAIL {label}\n     empty result (no series)")
                print(failures[-1])
            else:
                passed += 1
                print(f"PASS {label} -> {detail} series")

    if failures:
        print(f"\n{len(failures)} failing:")
        for failure in failures:
            print("  " + failure.replace("\n", "\n  "))
    print(f"{passed} passed, {len(failures)} failed ({empty_allowed} of the passed empty, allowed)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
