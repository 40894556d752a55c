"""No secret ever appears in Ansible's output, with --diff and -v (tests/security: none is tracked by git).

The plays that handle secrets (the lbs' TLS key, the monitoring plane's password and web configs, Grafana's admin
password, the JMeter keystore's password, keepalived's VRRP password) run against the running lab in check mode
with --diff -v on fresh test secrets, so every template and file that would change shows its diff if it is
allowed to; the lab itself keeps its own secrets (check mode changes nothing).
"""

import datetime
import json
import re
import secrets

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from webdemo_tools.lab import run_playbook

# The plays that render or handle a secret (the load test up to its generators: running JMeter handles none).
PLAYS = [
    ("playbooks/lb.yml",),
    ("playbooks/monitoring.yml",),
    ("playbooks/loadtest.yml", "--tags", "loadtest_preflight,loadtest_generators"),
]


def self_signed_certificate(key, names):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def canaries(tmp_path_factory):
    """Extra vars with a fresh, recognisable value for every secret, and the strings that must never be printed."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_pem = self_signed_certificate(key, ["localhost"]).public_bytes(serialization.Encoding.PEM).decode()
    word = secrets.token_hex(8)
    extra = {
        "webdemo_tls_private_key": key_pem,
        "webdemo_tls_certificate": cert_pem,
        "webdemo_monitoring_password": f"leak-canary-monitoring-{word}",
        "grafana_admin_password": f"leak-canary-grafana-{word}",
        "jmeter_rmi_keystore_password": f"leak-canary-jmeter-{word}",
        "keepalived_auth_pass": secrets.token_hex(4),
    }
    path = tmp_path_factory.mktemp("leak") / "secrets.json"
    path.write_text(json.dumps(extra))
    # Every line of the key's body is a secret; the passwords are; keepalived's is short but random.
    body_lines = [line for line in key_pem.splitlines() if line and not line.startswith("-----")]
    needles = body_lines + [value for name, value in extra.items() if not name.startswith("webdemo_tls")]
    return path, needles


def test_check_mode_with_diff_prints_no_secret(canaries):
    path, needles = canaries
    outputs = []
    for play in PLAYS:
        result = run_playbook(*play, "--check", "--diff", "-v", "-e", f"@{path}", check=False, timeout=900)
        outputs.append(result.stdout + result.stderr)
        # Every task ran (check mode, nothing failed): each template and file with a secret was compared.
        recap = result.stdout.partition("PLAY RECAP")[2]
        assert recap and re.search(r"failed=[1-9]", recap) is None, result.stdout[-3000:] + result.stderr[-2000:]
    output = "\n".join(outputs)
    leaked = [needle for needle in needles if needle in output]
    assert not leaked, f"{len(leaked)} secret value(s) printed, e.g. {leaked[0][:12]}..."
    # The diffs were really shown: the run must have had something to compare (the secrets differ from the lab's).
    assert re.search(r"^(---|\+\+\+) (before|after)", output, re.MULTILINE), "no diff was printed at all"
