"""charts/webdemo/README.md documents every value of the chart with its type and default (no helm needed)."""

from __future__ import annotations

import yaml

from . import values_table
from .conftest import CHART


def key_paths(value: object, prefix: str = "") -> list[str]:
    """Every key of values.yaml at every depth, free-form maps included."""
    paths = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths.append(path)
            paths += key_paths(item, path)
    return paths


def test_the_readme_table_is_in_step_with_the_chart():
    assert values_table.problems() == []


def test_every_key_of_values_yaml_is_documented():
    # Independent of the generator's walk: a key is documented by its own row, by rows of its sub-keys, or, inside a
    # free-form map (annotations, resources.requests, ...), by the row holding the whole map.
    _, table, _ = values_table.split_readme(values_table.README.read_text())
    rows = values_table.documented(table).keys()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [
        path
        for path in key_paths(values)
        if not any(row == path or row.startswith(path + ".") or path.startswith(row + ".") for row in rows)
    ]
    assert missing == [], f"keys of values.yaml missing from the README's table: {missing}"


def test_the_check_reports_a_missing_key(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    text = values_table.README.read_text()
    readme.write_text("\n".join(line for line in text.splitlines() if not line.startswith("| `replicaCount` |")))
    monkeypatch.setattr(values_table, "README", readme)
    assert "replicaCount: missing from the table" in values_table.problems()
