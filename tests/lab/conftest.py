"""Fixtures for tests against the running local lab (brought up by tests/lab/site.sh / site.yml)."""

import pytest
from webdemo_tools.lab import LB, PROMETHEUS, http_get, monitoring_get


@pytest.fixture(scope="session")
def lab_is_up():
    try:
        status, _ = http_get(LB + "/api/v1/health")
        monitoring_get(PROMETHEUS + "/-/ready")
    except OSError as error:
        pytest.fail(f"the lab is not running (run: ansible-playbook site.yml -i inventories/local): {error}")
    assert status == 200
