"""The Helm chart: lint, offline schema validation of every rendered object, and its behaviours over `helm template`.

Needs the pinned helm and kubeconform (scripts/install-helm.sh); skips with that reason without them.
"""

from __future__ import annotations

import pytest
import yaml

from .conftest import CHART, NAMESPACE, SCHEMA_DIR, VALUE_SETS, by_kind, one, run
from .k8s_schemas import generate


def pod_spec(docs):
    return one(docs, "Deployment")["spec"]["template"]["spec"]


def container(docs):
    return pod_spec(docs)["containers"][0]


def test_value_sets_exist():
    names = {path.name for path in VALUE_SETS}
    assert {"default-values.yaml", "production-values.yaml", "minimal-values.yaml"} <= names


@pytest.mark.parametrize("values_file", VALUE_SETS, ids=lambda p: p.stem)
def test_lint_strict(chart, values_file):
    result = chart.lint("--values", str(values_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.fixture(scope="session")
def schemas():
    generate(SCHEMA_DIR)
    return SCHEMA_DIR


@pytest.mark.parametrize("values_file", VALUE_SETS, ids=lambda p: p.stem)
def test_rendered_objects_match_the_kubernetes_schemas(chart, kubeconform, schemas, values_file):
    rendered = chart.template("--values", str(values_file))
    assert rendered.returncode == 0, rendered.stderr
    # -strict: unknown fields fail. No -ignore-missing-schemas and no -skip: a kind without a schema is an error.
    result = run(
        [
            kubeconform,
            "-strict",
            "-summary",
            "-output",
            "text",
            "-kubernetes-version",
            "1.36.3",
            "-schema-location",
            str(schemas) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
        ],
        stdin=rendered.stdout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in result.stdout, result.stdout
    expected = len([doc for doc in rendered.stdout.split("\n---") if "kind:" in doc])
    assert f"Valid: {expected}," in result.stdout, result.stdout


def test_the_schema_check_catches_an_unknown_field(chart, kubeconform, schemas, tmp_path):
    """The validation above can fail: a misspelled field in a Deployment is reported."""
    docs = chart.render()
    deployment = one(docs, "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    result = run(
        [kubeconform, "-strict", "-schema-location", str(schemas) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"],
        stdin=yaml.safe_dump(deployment),
    )
    assert result.returncode != 0
    assert "livenessProbes" in result.stdout + result.stderr


@pytest.mark.parametrize("values_file", VALUE_SETS, ids=lambda p: p.stem)
def test_every_object_is_in_the_release_namespace(chart, values_file):
    docs = chart.render("--values", str(values_file), namespace="shop")
    assert docs
    for doc in docs:
        assert doc["metadata"].get("namespace") == "shop", doc["kind"]


def test_namespace_override(chart):
    docs = chart.render("--values", str(CHART / "ci" / "production-values.yaml"), values={"namespaceOverride": "api"})
    assert {doc["metadata"]["namespace"] for doc in docs} == {"api"}
    assert one(docs, "ServiceMonitor")["spec"]["namespaceSelector"]["matchNames"] == ["api"]


def test_probes_on_the_health_endpoint(chart):
    c = container(chart.render())
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/api/v1/health", "port": "http"}, probe
    assert c["livenessProbe"]["periodSeconds"] == 10
    assert c["livenessProbe"]["timeoutSeconds"] == 3
    assert c["livenessProbe"]["failureThreshold"] == 3
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 30
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]


def test_resources(chart):
    assert container(chart.render())["resources"] == {
        "requests": {"cpu": "512m", "memory": "512Mi"},
        "limits": {"cpu": "1024m", "memory": "1024Mi"},
    }


def test_rolling_update_never_drops_below_the_replica_count(chart):
    strategy = one(chart.render(), "Deployment")["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_replicas_belong_to_the_hpa_when_autoscaling(chart):
    assert "replicas" not in one(chart.render(), "Deployment")["spec"]
    docs = chart.render(values={"autoscaling": {"enabled": False}, "replicaCount": 3})
    assert one(docs, "Deployment")["spec"]["replicas"] == 3
    assert not by_kind(docs, "HorizontalPodAutoscaler")


def test_soft_anti_affinity_by_default(chart):
    affinity = pod_spec(chart.render())["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in affinity
    (term,) = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["weight"] == 100
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "webdemo",
        "app.kubernetes.io/instance": "webdemo",
    }


def test_hard_anti_affinity_option(chart):
    affinity = pod_spec(chart.render(values={"podAntiAffinity": {"type": "hard"}}))["affinity"]["podAntiAffinity"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in affinity
    (term,) = affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"


def test_tolerations_and_node_selector_at_pod_level(chart):
    docs = chart.render("--values", str(CHART / "ci" / "production-values.yaml"))
    spec = pod_spec(docs)
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux", "workload": "api"}
    assert spec["tolerations"][0]["key"] == "dedicated"
    assert set(spec["affinity"]) == {"podAntiAffinity"}  # a pod-level key, not nested in another affinity block


def test_hpa(chart):
    hpa = one(chart.render(), "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 5)
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "webdemo"}
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in spec["metrics"]}
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
        "memory": {"type": "Utilization", "averageUtilization": 70},
    }
    assert spec["behavior"]["scaleDown"] == {
        "stabilizationWindowSeconds": 300,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}],
    }


def checksum(docs):
    return one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def test_config_checksum_follows_the_config(chart):
    base = checksum(chart.render())
    assert base == checksum(chart.render()), "the checksum must be stable"
    assert base == checksum(chart.render(values={"replicaCount": 4})), "non-config values must not roll the pods"
    changed = checksum(chart.render(values={"config": {"logLevel": "debug"}}))
    assert changed != base
    configmap = one(chart.render(values={"config": {"logLevel": "debug"}}), "ConfigMap")
    assert configmap["data"]["WEBDEMO_LOG_LEVEL"] == "debug"


def test_configmap_carries_the_app_settings(chart):
    data = one(chart.render(), "ConfigMap")["data"]
    assert data["WEBDEMO_BIND"] == "0.0.0.0:8000"
    assert data["WEBDEMO_WORKERS"] == "2"
    assert data["WEBDEMO_MAX_BODY_BYTES"] == "1048576"
    assert all(isinstance(v, str) for v in data.values())
    envfrom = container(chart.render())["envFrom"]
    assert envfrom == [{"configMapRef": {"name": "webdemo"}}]


def test_security_context(chart):
    docs = chart.render()
    pod = pod_spec(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sc = container(docs)["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}


def test_writable_dirs_are_emptydirs(chart):
    docs = chart.render()
    mounts = {m["name"]: m["mountPath"] for m in container(docs)["volumeMounts"]}
    assert mounts == {"metrics": "/run/webdemo/prometheus", "tmp": "/tmp"}
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    assert set(volumes["metrics"]) == {"name", "emptyDir"}
    assert set(volumes["tmp"]) == {"name", "emptyDir"}
    env = {e["name"]: e.get("value") for e in container(docs)["env"]}
    assert env["PROMETHEUS_MULTIPROC_DIR"] == "/run/webdemo/prometheus"


def test_graceful_shutdown_fits_in_the_grace_period(chart):
    docs = chart.render()
    c = container(docs)
    assert c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert pod_spec(docs)["terminationGracePeriodSeconds"] > 5 + 30


def test_service(chart):
    service = one(chart.render(), "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert service["metadata"]["annotations"]["prometheus.io/port"] == "8000"
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


def test_optional_objects_are_off_by_default(chart):
    kinds = {doc["kind"] for doc in chart.render()}
    assert kinds == {
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Pod",  # the helm test hook
        "Service",
        "ServiceAccount",
    }


def test_external_secret(chart):
    docs = chart.render("--values", str(CHART / "ci" / "production-values.yaml"))
    es = one(docs, "ExternalSecret")
    assert es["apiVersion"] == "external-secrets.io/v1"
    assert es["metadata"]["namespace"] == NAMESPACE
    assert es["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "aws-secrets-manager"}
    assert es["spec"]["refreshInterval"] == "1h"
    assert es["spec"]["target"]["name"] == "webdemo"
    assert {"secretRef": {"name": "webdemo"}} in container(docs)["envFrom"]


def test_ingress(chart):
    ingress = one(chart.render("--values", str(CHART / "ci" / "production-values.yaml")), "Ingress")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "kong"
    assert spec["tls"] == [{"hosts": ["backend.demo.com"], "secretName": "backend-demo-com-tls"}]
    assert spec["rules"][0]["host"] == "backend.demo.com"
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"


def test_service_monitor_and_network_policy(chart):
    docs = chart.render("--values", str(CHART / "ci" / "production-values.yaml"))
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    policy = one(docs, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["egress"] == []
    peers = [peer for rule in policy["ingress"] for peer in rule["from"]]
    test_pod = {"app.kubernetes.io/instance": "webdemo", "app.kubernetes.io/component": "helm-test"}
    assert {"podSelector": {"matchLabels": test_pod}} in peers


def test_helm_test_hook_is_not_selected_by_the_service(chart):
    docs = chart.render()
    pod = one(docs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert "/api/v1/health" in pod["spec"]["containers"][0]["command"][-1]
    selector = one(docs, "Service")["spec"]["selector"]
    labels = pod["metadata"]["labels"]
    assert not all(labels.get(k) == v for k, v in selector.items())


def test_image_reference(chart):
    assert container(chart.render())["image"] == "webdemo:0.1.0"
    assert container(chart.render(values={"image": {"tag": "0a1b2c3"}}))["image"] == "webdemo:0a1b2c3"
    digest = "sha256:" + "a" * 64
    assert container(chart.render(values={"image": {"digest": digest}}))["image"] == "webdemo@" + digest


BAD_VALUES = [
    pytest.param({"replicaCount": -1}, ["replicaCount", "minimum"], id="negative-replicas"),
    pytest.param(
        {"autoscaling": {"minReplicas": 6, "maxReplicas": 3}},
        ["autoscaling.minReplicas (6) must not exceed autoscaling.maxReplicas (3)"],
        id="hpa-min-above-max",
    ),
    pytest.param(
        {"ingress": {"enabled": True, "className": "kongg"}}, ["className", "kong"], id="unknown-ingress-class"
    ),
    pytest.param(
        {"externalSecret": {"enabled": True, "data": [{"secretKey": "A", "remoteRef": {"key": "k"}}]}},
        ["secretStoreRef", "name"],
        id="external-secret-without-store",
    ),
    pytest.param(
        {"externalSecret": {"enabled": True, "secretStoreRef": {"kind": "Vault", "name": "x"}}},
        ["secretStoreRef", "kind"],
        id="external-secret-unknown-store-kind",
    ),
    pytest.param({"podAntiAffinity": {"type": "sometimes"}}, ["podAntiAffinity"], id="unknown-anti-affinity"),
    pytest.param({"replicas": 2}, ["replicas"], id="misspelled-key"),
    pytest.param(
        {"terminationGracePeriodSeconds": 30}, ["terminationGracePeriodSeconds (30) must exceed"], id="short-grace"
    ),
]


@pytest.mark.parametrize(("values", "expected"), BAD_VALUES)
def test_bad_values_are_rejected_by_template(chart, values, expected):
    """helm template runs the same checks as helm install: the schema, then the templates' `fail`."""
    result = chart.template(values=values)
    assert result.returncode != 0, result.stdout
    for text in expected:
        assert text in result.stderr, result.stderr


# `helm lint` turns a template's `fail` into an [INFO] line and exits 0 (helm's lint mode); only the schema errors fail
# it. The cross-field checks in _helpers.tpl (webdemo.validate) are therefore enforced by `helm template`/`install`,
# and the k8s role runs `helm template` next to `helm lint --strict`.
TEMPLATE_ONLY = {"hpa-min-above-max", "short-grace"}


@pytest.mark.parametrize(("values", "expected"), [p for p in BAD_VALUES if p.id not in TEMPLATE_ONLY])
def test_bad_values_are_rejected_by_lint(chart, values, expected):
    result = chart.lint(values=values)
    assert result.returncode != 0, result.stdout
    output = result.stdout + result.stderr
    for text in expected:
        assert text in output, output
