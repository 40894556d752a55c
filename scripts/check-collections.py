#!/usr/bin/env python3
"""Fail unless every collection pinned in requirements.yml is installed at exactly that version."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    wanted = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    listing = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "list", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    installed: dict[str, str] = {}
    for collections in json.loads(listing.stdout).values():
        for name, meta in collections.items():
            installed.setdefault(name, meta["version"])
    problems = []
    for item in wanted:
        have = installed.get(item["name"])
        if have != item["version"]:
            problems.append(f"{item['name']}: requirements.yml pins {item['version']}, installed {have}")
    for line in problems:
        print(f"check-collections: {line}", file=sys.stderr)
    if not problems:
        print(f"check-collections: {len(wanted)} collections match requirements.yml")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
