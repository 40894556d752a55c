"""Settings.from_env: defaults, validation messages, the test-delay guard, gunicorn_conf."""

import importlib
import sys

import pytest

from webdemo.settings import Settings


def test_defaults():
    s = Settings.from_env({})
    assert s.bind == "127.0.0.1:8000"
    assert s.worker_class == "gthread"
    assert s.workers >= 2
    assert (s.timeout, s.graceful_timeout, s.keepalive) == (30, 30, 5)
    assert s.access_log is None
    assert s.max_requests == 0
    assert s.max_body_bytes == 1024 * 1024
    assert s.info_enabled and s.metrics_enabled
    assert s.test_delay_seconds == 0 and not s.allow_test_delay
    assert s.multiproc_dir is None


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings.from_env({}).workers = 9  # type: ignore[misc]


def test_values_are_parsed():
    s = Settings.from_env(
        {
            "WEBDEMO_BIND": "unix:/run/webdemo/webdemo.sock",
            "WEBDEMO_WORKERS": "3",
            "WEBDEMO_WORKER_CLASS": "SYNC",
            "WEBDEMO_ACCESS_LOG": "-",
            "WEBDEMO_INFO_ENABLED": "no",
            "PROMETHEUS_MULTIPROC_DIR": "/run/webdemo/prometheus",
        }
    )
    assert s.bind == "unix:/run/webdemo/webdemo.sock"
    assert (s.workers, s.worker_class, s.access_log) == (3, "sync", "-")
    assert s.info_enabled is False
    assert s.multiproc_dir == "/run/webdemo/prometheus"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBDEMO_BIND", "8000"),
        ("WEBDEMO_BIND", "unix:relative.sock"),
        ("WEBDEMO_BIND", "127.0.0.1:99999"),
        ("WEBDEMO_WORKERS", "two"),
        ("WEBDEMO_WORKERS", "0"),
        ("WEBDEMO_THREADS", "-1"),
        ("WEBDEMO_WORKER_CLASS", "gevent"),
        ("WEBDEMO_TIMEOUT", "1.5"),
        ("WEBDEMO_GRACEFUL_TIMEOUT", "0"),
        ("WEBDEMO_KEEPALIVE", "x"),
        ("WEBDEMO_LOG_LEVEL", "verbose"),
        ("WEBDEMO_MAX_REQUESTS", "-5"),
        ("WEBDEMO_MAX_BODY_BYTES", "1MiB"),
        ("WEBDEMO_INFO_ENABLED", "maybe"),
        ("WEBDEMO_METRICS_ENABLED", "2"),
        ("WEBDEMO_TEST_DELAY_SECONDS", "nan"),
        ("WEBDEMO_TEST_DELAY_SECONDS", "-1"),
        ("WEBDEMO_ALLOW_TEST_DELAY", "sure"),
        ("PROMETHEUS_MULTIPROC_DIR", "relative/dir"),
    ],
)
def test_bad_value_names_the_variable(name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_test_delay_refused_without_allow_flag():
    with pytest.raises(ValueError, match="WEBDEMO_ALLOW_TEST_DELAY"):
        Settings.from_env({"WEBDEMO_TEST_DELAY_SECONDS": "1"})
    with pytest.raises(ValueError, match="WEBDEMO_TEST_DELAY_SECONDS"):
        Settings.from_env({"WEBDEMO_TEST_DELAY_SECONDS": "1", "WEBDEMO_ALLOW_TEST_DELAY": "false"})


def test_test_delay_accepted_with_allow_flag():
    s = Settings.from_env({"WEBDEMO_TEST_DELAY_SECONDS": "1", "WEBDEMO_ALLOW_TEST_DELAY": "true"})
    assert s.test_delay_seconds == 1.0


def _load_gunicorn_conf(monkeypatch, **env):
    for key in [k for k in list(sys.modules) if k == "webdemo.gunicorn_conf"]:
        del sys.modules[key]
    import os

    for key in list(os.environ):
        if key.startswith("WEBDEMO_") or key == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return importlib.import_module("webdemo.gunicorn_conf")


def test_gunicorn_conf_reads_environment(monkeypatch, tmp_path):
    conf = _load_gunicorn_conf(
        monkeypatch,
        WEBDEMO_WORKERS="3",
        WEBDEMO_WORKER_CLASS="sync",
        WEBDEMO_GRACEFUL_TIMEOUT="7",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )
    assert conf.workers == 3 and conf.worker_class == "sync" and conf.graceful_timeout == 7
    assert conf.control_socket_disable is True
    assert conf.accesslog is None
    assert conf.bind == ["127.0.0.1:8000"]


def test_gunicorn_conf_refuses_several_workers_without_multiproc_dir(monkeypatch):
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        _load_gunicorn_conf(monkeypatch, WEBDEMO_WORKERS="2")


def test_gunicorn_conf_allows_one_worker_or_no_metrics_without_dir(monkeypatch):
    assert _load_gunicorn_conf(monkeypatch, WEBDEMO_WORKERS="1").workers == 1
    conf = _load_gunicorn_conf(monkeypatch, WEBDEMO_WORKERS="4", WEBDEMO_METRICS_ENABLED="false")
    assert conf.workers == 4


def test_on_starting_wipes_only_stale_db_files(monkeypatch, tmp_path):
    (tmp_path / "histogram_123.db").write_bytes(b"x")
    (tmp_path / "keep.txt").write_text("x")
    conf = _load_gunicorn_conf(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))

    class _Log:
        def info(self, *args):
            pass

    class _Server:
        log = _Log()

    conf.on_starting(_Server())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_server_choice():
    assert Settings.from_env({}).server == "gunicorn"
    assert Settings.from_env({"WEBDEMO_SERVER": "Granian"}).server == "granian"
    with pytest.raises(ValueError, match="WEBDEMO_SERVER"):
        Settings.from_env({"WEBDEMO_SERVER": "uwsgi"})


def test_granian_takes_the_socket_systemd_passed_only_for_its_own_pid():
    import os

    from webdemo.granian_server import inherited_fd

    mine = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "webdemo.socket"}
    env = dict(mine)
    assert inherited_fd(env) == 3
    assert env == {}  # unset, as sd_listen_fds(1) does: workers and the WSGI environ never see it
    assert inherited_fd({"LISTEN_PID": "1", "LISTEN_FDS": "1"}) is None  # another process's
    assert inherited_fd({}) is None
    with pytest.raises(RuntimeError, match="LISTEN_FDS=2"):
        inherited_fd({**mine, "LISTEN_FDS": "2"})


@pytest.mark.parametrize(
    ("name", "value"), [("WEBDEMO_MAX_REQUESTS", "1000"), ("WEBDEMO_ACCESS_LOG", "/tmp/x.log")]
)
def test_granian_refuses_gunicorn_only_settings(monkeypatch, name, value):
    from webdemo import granian_server

    for key in list(__import__("os").environ):
        if key.startswith("WEBDEMO_") or key == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(key)
    monkeypatch.setenv("WEBDEMO_WORKERS", "1")
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        granian_server.main([])
