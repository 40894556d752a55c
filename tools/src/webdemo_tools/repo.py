"""The repository the tools work in, and Ansible's commands run from it (one place for both)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def find_root(start: Path | None = None) -> Path:
    """The repository: the nearest folder at or above `start` (default: the working directory) with site.yml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "site.yml").is_file() and (folder / "roles").is_dir():
            return folder
    raise FileNotFoundError(f"no site.yml in {here} or above: run it inside the webdemo repository")


def root() -> Path:
    """The repository this package is installed from (editable install), else the working directory's."""
    try:
        return find_root(Path(__file__).parent)
    except FileNotFoundError:
        return find_root()


def ansible(
    program: str, *args: str, local: bool = False, timeout: int = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """One of the virtualenv's Ansible commands (ansible, ansible-playbook, ...) run from the repository; with
    local=True (plays on the controller only) this Python is the hosts' interpreter. Facts are not read from or
    written to the repository's fact cache (ansible.cfg), so a test never depends on what ran before it. The
    result is returned, never raised."""
    interpreter = ["-e", f"ansible_python_interpreter={sys.executable}"] if local else []
    return subprocess.run(  # noqa: S603 (the virtualenv's own Ansible)
        [str(Path(sys.executable).parent / program), *args, *interpreter],
        cwd=cwd or root(),
        env={**os.environ, "ANSIBLE_CACHE_PLUGIN": "memory"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
