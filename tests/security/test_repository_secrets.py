"""git tracks no private key, keystore or password, except values clearly named as lab- or test-only."""

import re
import subprocess

from webdemo_tools.repo import root

# Files that hold keys by their nature; the lab's are made on each machine under .cache/ (ignored by git).
KEY_FILES = (".jks", ".p12", ".pfx", ".key", ".pem")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\n[A-Za-z0-9+/=]{40,}")
# "password: value" / "password=value" with a literal value (not a template, a vault reference or an example).
PASSWORD = re.compile(
    r"(?im)^[ \t#-]*([\w.-]*pass(word|wd|phrase)|[\w.-]+_pass|[\w.-]+[_-](token|secret))[ \t]*[:=][ \t]*"
    r"['\"]?([^'\"\s{}]+)"
)
ALLOWED_VALUE = re.compile(
    r"lab-only|molecule-only|test-only|^vault_|^\$|^<|^\(|^(true|false|null|none|read|write)$", re.I
)


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root(), capture_output=True, check=True).stdout  # noqa: S607
    return [root() / name for name in out.decode().split("\0") if name and (root() / name).is_file()]


def test_no_key_or_keystore_file_is_tracked():
    assert [path.name for path in tracked_files() if path.suffix in KEY_FILES] == []


def test_no_private_key_is_tracked():
    assert [str(path) for path in tracked_files() if PRIVATE_KEY.search(path.read_text(errors="replace"))] == []


def test_no_literal_password_is_tracked_but_lab_only_ones():
    offenders = []
    for path in tracked_files():
        if path.suffix not in {".yml", ".yaml", ".j2", ".ini", ".properties", ".cfg", ".env", ".json", ".sh"}:
            continue
        for match in PASSWORD.finditer(path.read_text(errors="replace")):
            if not ALLOWED_VALUE.search(match.group(4)):
                offenders.append(f"{path.relative_to(root())}: {match.group(0).strip()}")
    assert offenders == []


def test_the_lab_keys_and_production_keystores_are_ignored_by_git():
    for path in (
        ".cache/lab-pki/ca.key",
        ".cache/lab-rmi/rmi_keystore.jks",
        "inventories/production/files/rmi_keystore.jks",
    ):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=root(), check=False)  # noqa: S607
        assert ignored.returncode == 0, f"{path} is not ignored by git"
