"""What an on-call person gets with every alert of files/prometheus/webdemo.yml: a summary, a description, a known
severity and a runbook_url that opens a runbook of this repository (docs/runbooks/<alert-name>.md, at the project
URL of charts/webdemo/Chart.yaml: the one place the URL is written); and no runbook without its alert."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "files" / "prometheus" / "webdemo.yml"
RUNBOOKS = ROOT / "docs" / "runbooks"
PROJECT_URL = yaml.safe_load((ROOT / "charts" / "webdemo" / "Chart.yaml").read_text())["home"].rstrip("/")
RUNBOOK_BASE = f"{PROJECT_URL}/blob/main/docs/runbooks/"
SEVERITIES = {"critical", "warning", "none"}


def alerts():
    rules = yaml.safe_load(RULES.read_text())
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def runbook_name(alertname):
    """HighErrorRate -> high-error-rate.md"""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", alertname).lower() + ".md"


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule["alert"])
def test_alert_has_summary_description_severity_and_runbook(rule):
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), f"{rule['alert']} has no {key}"
    assert rule.get("labels", {}).get("severity") in SEVERITIES, rule["alert"]
    url = annotations["runbook_url"]
    assert url == RUNBOOK_BASE + runbook_name(rule["alert"]), f"{rule['alert']}: runbook_url {url}"
    runbook = RUNBOOKS / url.removeprefix(RUNBOOK_BASE)
    assert runbook.is_file(), f"{rule['alert']}: {runbook.relative_to(ROOT)} missing"
    assert runbook.read_text().startswith(f"# {rule['alert']}\n"), f"{runbook.name} is not titled {rule['alert']}"


def test_every_runbook_belongs_to_an_alert_and_the_index_lists_them_all():
    names = {rule["alert"] for rule in alerts()}
    pages = {path.name for path in RUNBOOKS.glob("*.md")} - {"README.md"}
    assert pages == {runbook_name(name) for name in names}
    index = (RUNBOOKS / "README.md").read_text()
    for rule in alerts():
        row = f"| `{rule['alert']}` | {rule['labels']['severity']} | [{runbook_name(rule['alert'])}]"
        assert row in index, f"docs/runbooks/README.md lacks the row of {rule['alert']}"


def test_runbook_urls_are_written_from_one_project_url():
    """Moving the project means changing Chart.yaml's home and this one prefix of the rule file."""
    text = RULES.read_text()
    urls = re.findall(r"https?://\S+", text)
    assert urls and all(url.startswith(PROJECT_URL + "/") for url in urls), set(urls)
