"""promtool unit tests of the alert rules, rendered from the role's template with the production defaults and
with the lab's short durations: each alert fires on series that should fire it and stays silent otherwise."""

import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ROLE = ROOT / "roles" / "prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
pytestmark = pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool missing: run scripts/setup.sh")

DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
LAB = {
    **DEFAULTS,
    **{
        k: v
        for k, v in yaml.safe_load((ROOT / "inventories/local/group_vars/monitor.yml").read_text()).items()
        if k.startswith("prometheus_alert_")
    },
}


def render_rules(settings, directory):
    # Renders YAML, not HTML: autoescaping would corrupt the PromQL.
    template = jinja2.Environment(  # noqa: S701
        loader=jinja2.FileSystemLoader(ROLE / "templates"), undefined=jinja2.StrictUndefined
    )
    text = template.get_template("webdemo.rules.yml.j2").render(ansible_managed="test", **settings)
    path = directory / "webdemo.yml"
    path.write_text(text)
    check = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    return path


def buckets(path, counts_per_minute, minutes=40):
    """Histogram bucket series for one route: counts_per_minute maps each `le` to its increase per minute."""
    return [
        {
            "series": "http_request_duration_seconds_bucket"
            f'{{job="app", instance="web1", path="{path}", le="{le}"}}',
            "values": f"0+{per_minute}x{minutes}",
        }
        for le, per_minute in counts_per_minute.items()
    ]


SLOW = {"0.01": 0, "0.15": 0, "0.25": 60, "+Inf": 60}  # every request 150-250 ms: p95 ~245 ms
FAST = {"0.01": 60, "0.15": 60, "0.25": 60, "+Inf": 60}  # every request under 10 ms
BORDERLINE = {"0.01": 0, "0.15": 58, "0.25": 60, "+Inf": 60}  # 97% under 150 ms: p95 below the threshold


def firing(alertname, labels, eval_time):
    label_text = ", ".join(
        f'{k}="{v}"' for k, v in sorted({**labels, "alertname": alertname, "alertstate": "firing"}.items())
    )
    return {
        "expr": f'ALERTS{{alertname="{alertname}", alertstate="firing"}}',
        "eval_time": eval_time,
        "exp_samples": [{"labels": "ALERTS{" + label_text + "}", "value": 1}],
    }


def silent(alertname, eval_time):
    return {
        "expr": f'ALERTS{{alertname="{alertname}", alertstate="firing"}}',
        "eval_time": eval_time,
        "exp_samples": [],
    }


def minutes(duration):
    units = {"s": 1 / 60, "m": 1, "h": 60}
    return float(duration[:-1]) * units[duration[-1]]


@pytest.mark.parametrize("profile", ["defaults", "lab"])
def test_alert_rules_fire_when_they_should_and_only_then(tmp_path, profile):
    settings = DEFAULTS if profile == "defaults" else LAB
    render_rules(settings, tmp_path)
    severity = settings["prometheus_alert_severity"]
    # Late enough for the rate window to fill and the `for:` to elapse, early enough to be meaningful.
    window, hold = (
        minutes(settings["prometheus_alert_latency_window"]),
        minutes(settings["prometheus_alert_latency_for"]),
    )
    fire_at = f"{int(window + hold) + 2}m"
    up_fire_at = f"{int(minutes(settings['prometheus_alert_up_for'])) + 2}m"
    tests = [
        {  # slow API traffic fires HighLatency, per job
            "interval": "1m",
            "input_series": buckets("/api/v1/health", SLOW),
            "promql_expr_test": [firing("HighLatency", {"job": "app", "severity": severity}, fire_at)],
        },
        {  # fast traffic, borderline traffic and slow /metrics scrapes alone stay silent
            "interval": "1m",
            "input_series": buckets("/api/v1/health", FAST)
            + buckets("/api/v1/info", BORDERLINE)
            + [
                {**s, "series": s["series"].replace('instance="web1"', 'instance="web2"')}
                for s in buckets("/metrics", SLOW)
            ],
            "promql_expr_test": [silent("HighLatency", fire_at)],
        },
        {  # a backend down long enough fires Up; a short blip and a healthy backend do not
            "interval": "1m",
            "input_series": [
                {"series": 'up{job="app", instance="web1"}', "values": "0x40"},
                {"series": 'up{job="app", instance="web2"}', "values": "1 0 1x38"},
                {"series": 'up{job="node", instance="web3"}', "values": "0x40"},
            ],
            "promql_expr_test": [
                firing("Up", {"job": "app", "instance": "web1", "severity": severity}, up_fire_at)
            ],
        },
        {  # before `for:` has elapsed nothing fires yet
            "interval": "1m",
            "input_series": [{"series": 'up{job="app", instance="web1"}', "values": "1 1 0x38"}],
            "promql_expr_test": [silent("Up", "2m")] if minutes(settings["prometheus_alert_up_for"]) >= 1 else [],
        },
    ]
    test_file = tmp_path / "webdemo_test.yml"
    test_file.write_text(yaml.safe_dump({"rule_files": ["webdemo.yml"], "evaluation_interval": "1m", "tests": tests}))
    result = subprocess.run([PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_rule_file_that_does_not_parse_is_rejected(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: rate(http_requests_total[5m)\n"
    )
    result = subprocess.run([PROMTOOL, "check", "rules", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
