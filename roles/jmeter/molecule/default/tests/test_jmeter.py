"""The jmeter role's host, checked from outside: Java, JMeter from the verified archive, settings, plan."""

import csv
import io

from webdemo_tools.hostcheck import assert_hardened

testinfra_hosts = ["ansible://loadgen"]


def test_jmeter_runs_from_the_verified_archive(host):
    assert host.package("default-jre-headless").is_installed
    version = host.run("/usr/local/bin/jmeter --version")
    assert version.rc == 0, version.stderr
    assert "5.6.3" in version.stdout + version.stderr
    # The wrong-checksum attempt of converge.yml left nothing behind.
    assert not host.file("/var/cache/jmeter/apache-jmeter-0.0.0-wrong-checksum.tgz").exists
    assert not host.file("/opt/apache-jmeter-0.0.0-wrong-checksum").exists


def test_heap_control_port_and_rmi_settings(host):
    setenv = host.file("/opt/jmeter/bin/setenv.sh").content_string
    assert 'HEAP="-Xms128m -Xmx256m"' in setenv
    props = host.file("/opt/jmeter/bin/user.properties").content_string
    assert "jmeterengine.nongui.port=0" in props
    assert "server.rmi.localport=50000" in props
    assert "server.rmi.ssl.disable=false" in props
    assert "server.rmi.ssl.keystore.file=/opt/apache-jmeter-5.6.3/bin/rmi_keystore.jks" in props
    assert host.file("/opt/jmeter/bin/rmi_keystore.jks").mode == 0o640
    assert host.file("/opt/jmeter/bin/user.properties").mode == 0o640


def test_plan_runs_without_opening_the_udp_control_port(host):
    assert host.file("/opt/webdemo-loadtest/load_test.jmx").exists
    assert host.file("/opt/webdemo-loadtest/jmeter.properties").exists
    # Nothing listens on the target: every sample fails, but the plan parses and the run ends by itself.
    run = host.run(
        "cd /tmp && timeout 60 jmeter -n -t /opt/webdemo-loadtest/load_test.jmx"
        " -q /opt/webdemo-loadtest/jmeter.properties -Jhost=127.0.0.1 -Jport=9"
        " -Jthreads=1 -Jrampup=0 -Jduration=2 -Jthink_time_ms=100 -l /tmp/mol.jtl"
    )
    assert run.rc == 0, run.stdout + run.stderr
    assert "end of run" in run.stdout
    assert host.file("/tmp/mol.jtl").content_string.startswith("timeStamp,elapsed,label,responseCode")
    assert ":4445" not in host.run("ss -Hulpn").stdout


def test_remote_engine_runs_hardened_as_its_own_user(host):
    service = host.service("jmeter-server")
    assert service.is_running and service.is_enabled
    # The RMI registry and the engine's fixed port (server_port, server.rmi.localport), owned by java.
    # With TLS, JMeter binds them to the announced address (java.rmi.server.hostname), not to every interface.
    listening = host.check_output("ss -Htlnp")
    for port in (1099, 50000):
        assert any(f":{port} " in line and '"java"' in line for line in listening.splitlines()), listening
    users = host.check_output("ps -o user= -C java").split()
    assert users and set(users) == {"jmeter"}, users
    assert_hardened(host, "jmeter-server.service")


def test_remote_engine_stops_cleanly(host):
    """The JVM exits 143 on SIGTERM: with SuccessExitStatus=143 a stop leaves the unit inactive, not failed."""
    try:
        host.check_output("systemctl stop jmeter-server")
        assert host.run("systemctl is-failed jmeter-server").stdout.strip() == "inactive"
    finally:
        host.check_output("systemctl start jmeter-server")


DISTRIBUTED_RUN = (
    "cd /tmp && rm -f {jtl} && timeout 120 jmeter -n -t /opt/webdemo-loadtest/load_test.jmx"
    " -q /opt/webdemo-loadtest/jmeter.properties -R webdemo-mol-1:1099"
    " -Djava.rmi.server.hostname=webdemo-mol-1"
    " -Ghost=127.0.0.1 -Gport=9 -Gthreads=1 -Grampup=0 -Gduration=2 -Gthink_time_ms=100 -l {jtl} {extra}"
)


def test_distributed_run_over_tls_reaches_the_remote_engine(host):
    """The controlling JMeter drives jmeter-server over RMI with TLS (keystore and truststore from user.properties)."""
    run = host.run(DISTRIBUTED_RUN.format(jtl="/tmp/tls.jtl", extra=""))
    assert run.rc == 0, run.stdout + run.stderr
    rows = list(csv.DictReader(io.StringIO(host.file("/tmp/tls.jtl").content_string)))
    # Every sample came back from the remote engine (its threads are named "<host>:<port>-<group> N-M").
    threads = {row["threadName"] for row in rows}
    assert rows and threads == {"webdemo-mol-1:1099-Users 1-1"}, threads


def test_remote_engine_refuses_a_controller_without_tls(host):
    run = host.run(DISTRIBUTED_RUN.format(jtl="/tmp/plain.jtl", extra="-Jserver.rmi.ssl.disable=true"))
    output = run.stdout + run.stderr
    # Measured: "non-JRMP server at remote endpoint", then "Following remote engines could not be configured".
    assert run.rc != 0 and "could not be configured" in output, output
    jtl = host.file("/tmp/plain.jtl")
    assert not jtl.exists or len(jtl.content_string.splitlines()) <= 1, jtl.content_string[:500]
