"""roles/loadtest on the controller: bad values fail before any change, naming the variable; the report phase.

Each case runs a real `ansible-playbook` against localhost (in an inventory's `loadgen` group, as loadtest.yml
targets it). The input cases are limited to the role's preflight (argument specs are validated first, always);
a passing case would be a bug. The report cases run the report phase on a recorded run, so the SLO gate is
exercised with thresholds from the inventory's group_vars and from -e.
"""

import io
import tarfile
from pathlib import Path

import pytest
import yaml
from webdemo_tools.repo import ansible

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def required_vars(tmp_path):
    """What loadtest.yml passes, plus a target (the test inventory has no lb group)."""
    controller_dir = tmp_path / "jmeter"
    controller_dir.mkdir(exist_ok=True)
    return {
        "loadtest_target_host": "127.0.0.1",
        "loadtest_plan_file": str(ROOT / "jmeter" / "load_test.jmx"),
        "loadtest_plan_properties_file": str(ROOT / "jmeter" / "jmeter.properties"),
        "loadtest_controller_dir": str(controller_dir),
    }


def run_role(tmp_path, role_vars, tags, group_vars=None, extra_args=()):
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True, exist_ok=True)
    hosts = {"loadgen": {"hosts": {"localhost": {"ansible_connection": "local"}}}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": hosts}}))
    (inventory / "group_vars" / "loadgen.yml").write_text(yaml.safe_dump(group_vars or {}))
    playbook = tmp_path / "play.yml"
    play = {"name": "Load test", "hosts": "loadgen", "gather_facts": False, "roles": [{"role": "loadtest"}]}
    play["roles"][0]["vars"] = role_vars
    playbook.write_text(yaml.safe_dump([play]))
    return ansible(
        "ansible-playbook", "-i", str(inventory), str(playbook), "--tags", tags, *extra_args, local=True, timeout=180
    )


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"loadtest_threads": "many"}, "loadtest_threads"),
        ({"loadtest_threads": 0}, "loadtest_threads=0"),
        ({"loadtest_duration": "-5"}, "loadtest_duration=-5"),
        ({"loadtest_think_time_ms": 2.5}, "loadtest_think_time_ms"),
        ({"loadtest_target_host": ""}, "loadtest_target_host"),
        ({"loadtest_target_port": 70000}, "loadtest_target_port=70000"),
        ({"loadtest_max_p95_ms": "fast"}, "loadtest_max_p95_ms"),
        ({"loadtest_max_p95_ms": 0}, "loadtest_max_p95_ms=0"),
        ({"loadtest_max_error_pct": 150}, "loadtest_max_error_pct=150"),
        ({"loadtest_prometheus_url": "mon1:9090"}, "loadtest_prometheus_url=mon1:9090"),
        ({"loadtest_engines": ["gen9"]}, "loadtest_engines=['gen9']"),
        ({"loadtest_driver": "gen9"}, "loadtest_driver=gen9"),
        ({"loadtest_workdir": "/var/tmp"}, "loadtest_workdir=/var/tmp"),
        ({"loadtest_plan_file": "/nonexistent.jmx"}, "loadtest_plan_file=/nonexistent.jmx"),
        ({"loadtest_controller_dir": ""}, "loadtest_controller_dir="),
        ({"loadtest_summary_command": ["/nonexistent/python"]}, "loadtest_summary_command"),
    ],
)
def test_bad_variable_fails_before_any_change(tmp_path, override, named):
    result = run_role(tmp_path, required_vars(tmp_path) | override, "loadtest_preflight")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert named in output, output
    assert "changed=0" in output, output


def test_a_bad_threshold_from_the_inventory_fails_too(tmp_path):
    """Settings are role defaults: group_vars reach the role (and are checked like any other value)."""
    result = run_role(
        tmp_path, required_vars(tmp_path), "loadtest_preflight", group_vars={"loadtest_max_error_pct": -1}
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "loadtest_max_error_pct=-1" in output, output


def test_valid_variables_pass_the_preflight(tmp_path):
    result = run_role(tmp_path, required_vars(tmp_path), "loadtest_preflight", extra_args=["-e", "loadtest_threads=7"])
    assert result.returncode == 0, result.stdout + result.stderr


# --- the report phase on a recorded run (JMeter 5.6.3, 480 samples, p95 30.95 ms, no errors) -------------------


def fetched_run(tmp_path):
    """The controller directory as run.yml leaves it: results.jtl and the packed report (report.tgz)."""
    role_vars = required_vars(tmp_path)
    controller_dir = Path(role_vars["loadtest_controller_dir"])
    (controller_dir / "results.jtl").write_bytes((FIXTURES / "results.jtl").read_bytes())
    with tarfile.open(controller_dir / "report.tgz", "w:gz") as archive:
        statistics = (FIXTURES / "statistics.json").read_bytes()
        member = tarfile.TarInfo("report/statistics.json")
        member.size = len(statistics)
        archive.addfile(member, io.BytesIO(statistics))
    (controller_dir / "report").mkdir()
    (controller_dir / "report" / "stale.html").write_text("a previous run's report")
    return role_vars, controller_dir


def test_report_gates_with_the_inventorys_threshold(tmp_path):
    role_vars, _ = fetched_run(tmp_path)
    result = run_role(tmp_path, role_vars, "loadtest_report", group_vars={"loadtest_max_p95_ms": 5})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "SLO MISSED: p95 30.9 ms > 5 ms" in output, output
    assert "limits: p95 <= 5 ms" in output, output


def test_report_replaces_the_old_one_and_extra_vars_beat_the_inventory(tmp_path):
    role_vars, controller_dir = fetched_run(tmp_path)
    result = run_role(
        tmp_path,
        role_vars,
        "loadtest_report",
        group_vars={"loadtest_max_p95_ms": 5},
        extra_args=["-e", "loadtest_max_p95_ms=31"],
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SLO met: p95 30.9 ms <= 31 ms, errors 0.00% <= 1%" in output, output
    assert (controller_dir / "report" / "statistics.json").is_file()
    assert not (controller_dir / "report" / "stale.html").exists()
    assert not (controller_dir / "report.tgz").exists()
