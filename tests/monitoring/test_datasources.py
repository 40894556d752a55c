"""files/grafana/datasources.yml is the one home of the Grafana datasource uids: the grafana role gets them from
the playbook (which reads that file), the dashboard generator writes the Prometheus one into the dashboards (kept
up to date by test_check_promql.py), the tests read the file. No other file may spell a uid out."""

import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DATASOURCES = ROOT / "files" / "grafana" / "datasources.yml"
GENERATED = ROOT / "files" / "grafana" / "dashboards"


def repository_files():
    """Every file of the working tree git knows or would add (tracked, and untracked but not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def test_each_datasource_uid_is_written_in_one_file_only():
    sources = yaml.safe_load(DATASOURCES.read_text())
    assert {"prometheus", "alertmanager"} <= set(sources)
    files = repository_files()
    for name, entry in sources.items():
        uid = entry["uid"].encode()
        holders = {
            path.relative_to(ROOT).as_posix() for path in files if path.parent != GENERATED and uid in path.read_bytes()
        }
        assert holders == {DATASOURCES.relative_to(ROOT).as_posix()}, (
            f"the {name} datasource uid {entry['uid']} is written outside {DATASOURCES.relative_to(ROOT)}: "
            f"{sorted(holders)}; read it from there instead"
        )
