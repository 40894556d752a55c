"""The Helm chart: lint, offline schema validation of every rendered object, and its behaviours over `helm template`.

Needs the pinned helm and kubeconform (scripts/install-helm.sh); skips with that reason without them.
"""

from __future__ import annotations

import pytest
import yaml

from .conftest import CHART, NAMESPACE, SCHEMA_DIR, VALUE_SETS, by_kind, one, run
from .k8s_schemas import generate

PRODUCTION = CHART / "ci" / "production-values.yaml"


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
    docs = chart.render("--values", str(PRODUCTION), values={"namespaceOverride": "api"})
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
    docs = chart.render("--values", str(PRODUCTION))
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


def test_the_server_is_a_value_default_gunicorn(chart):
    """config.server reaches the container as WEBDEMO_SERVER (the image's entrypoint starts that server)."""
    default = chart.render()
    assert one(default, "ConfigMap")["data"]["WEBDEMO_SERVER"] == "gunicorn"
    granian = chart.render(values={"config": {"server": "granian"}})
    assert one(granian, "ConfigMap")["data"]["WEBDEMO_SERVER"] == "granian"
    # The container takes the ConfigMap whole and does not override the variable (nor a command: the image's own).
    c = container(granian)
    assert c["envFrom"][0] == {"configMapRef": {"name": "webdemo"}}
    assert "WEBDEMO_SERVER" not in {e["name"] for e in c.get("env", [])}
    assert "command" not in c and "args" not in c
    # A server change alone rolls the pods.
    assert checksum(granian) != checksum(default)
    # The writable places are the same for both servers: the metrics emptyDir and /tmp, on a read-only root.
    assert container(granian)["volumeMounts"] == container(default)["volumeMounts"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_granian_accepts_stdout_access_log(chart):
    data = one(chart.render(values={"config": {"server": "granian", "accessLog": "-"}}), "ConfigMap")["data"]
    assert (data["WEBDEMO_SERVER"], data["WEBDEMO_ACCESS_LOG"]) == ("granian", "-")


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
    docs = chart.render("--values", str(PRODUCTION))
    es = one(docs, "ExternalSecret")
    assert es["apiVersion"] == "external-secrets.io/v1"
    assert es["metadata"]["namespace"] == NAMESPACE
    assert es["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "aws-secrets-manager"}
    assert es["spec"]["refreshInterval"] == "1h"
    assert es["spec"]["target"]["name"] == "webdemo"
    assert {"secretRef": {"name": "webdemo"}} in container(docs)["envFrom"]


INTERNAL = ("/api/v1/info", "/metrics")
# Requests a client may send for the internal endpoints, as the routing sees them (trailing slash, deeper path).
INTERNAL_REQUESTS = [*INTERNAL, "/api/v1/info/", "/metrics/", "/metrics/x"]


def routes(path: str, path_type: str, request: str) -> bool:
    """Kubernetes' Ingress matching: Exact compares the path; Prefix compares path elements ("/api" routes
    "/api/v1/info", "/api/v1/h" does not route "/api/v1/health"). Independent of the chart's own check."""
    if path_type == "Exact":
        return request == path
    assert path_type == "Prefix", path_type
    prefix = [part for part in path.split("/") if part]
    return [part for part in request.split("/") if part][: len(prefix)] == prefix


def ingress_paths(ingress: dict) -> list[tuple[str, str]]:
    return [(entry["path"], entry["pathType"]) for rule in ingress["spec"]["rules"] for entry in rule["http"]["paths"]]


def test_the_routing_model_used_below():
    assert routes("/", "Prefix", "/metrics")
    assert routes("/api", "Prefix", "/api/v1/info")
    assert routes("/api/v1/", "Prefix", "/api/v1/info")
    assert not routes("/api/v1/h", "Prefix", "/api/v1/health")
    assert routes("/api/v1/health", "Exact", "/api/v1/health")
    assert not routes("/api/v1/health", "Exact", "/api/v1/health/")


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(["--values", str(PRODUCTION)], id="production-values"),
        pytest.param(["--set", "ingress.enabled=true"], id="chart-default-paths"),
    ],
)
def test_the_ingress_routes_the_health_check_and_nothing_internal(chart, values):
    ingress = one(chart.render(*values), "Ingress")
    paths = ingress_paths(ingress)
    assert paths == [("/api/v1/health", "Exact")]
    assert any(routes(path, kind, "/api/v1/health") for path, kind in paths)
    for request in INTERNAL_REQUESTS:
        assert not any(routes(path, kind, request) for path, kind in paths), request
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            assert entry["backend"] == {"service": {"name": "webdemo", "port": {"name": "http"}}}


def test_ingress_paths_are_a_value(chart):
    paths = [{"path": "/api/v1/health", "pathType": "Exact"}, {"path": "/api/v2", "pathType": "Prefix"}]
    ingress = one(chart.render(values={"ingress": {"enabled": True, "paths": paths}}), "Ingress")
    assert ingress_paths(ingress) == [("/api/v1/health", "Exact"), ("/api/v2", "Prefix")]


def test_the_internal_endpoints_stay_reachable_inside_the_cluster(chart):
    """Not routed by the Ingress, still served: the Service carries every path, the ServiceMonitor scrapes /metrics."""
    docs = chart.render("--values", str(PRODUCTION))
    assert one(docs, "ConfigMap")["data"]["WEBDEMO_INFO_ENABLED"] == "true"
    assert one(docs, "Service")["spec"]["ports"][0]["targetPort"] == "http"
    (endpoint,) = one(docs, "ServiceMonitor")["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")


def test_the_production_ingress_is_https_only(chart):
    docs = chart.render("--values", str(PRODUCTION))
    ingress = one(docs, "Ingress")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "kong"
    assert spec["tls"] == [{"hosts": ["backend.demo.com"], "secretName": "backend-demo-com-tls"}]
    assert {rule["host"] for rule in spec["rules"]} <= {host for tls in spec["tls"] for host in tls["hosts"]}
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"
    # Kong: the route speaks HTTPS only; plain HTTP gets a permanent redirect instead of a 426.
    assert annotations["konghq.com/protocols"] == "https"
    assert annotations["konghq.com/https-redirect-status-code"] == "308"
    # HSTS: the KongPlugin the Ingress attaches.
    plugin = one(docs, "KongPlugin")
    assert annotations["konghq.com/plugins"] == plugin["metadata"]["name"] == "webdemo-hsts"
    assert plugin["plugin"] == "response-transformer"
    assert plugin["config"] == {"add": {"headers": ["Strict-Transport-Security:max-age=31536000; includeSubDomains"]}}


def test_hsts_is_appended_to_the_plugins_already_listed(chart):
    values = {
        "ingress": {"enabled": True, "annotations": {"konghq.com/plugins": "rate-limit"}, "hsts": {"enabled": True}}
    }
    ingress = one(chart.render(values=values), "Ingress")
    assert ingress["metadata"]["annotations"]["konghq.com/plugins"] == "rate-limit,webdemo-hsts"


def test_plain_http_needs_an_explicit_opt_in(chart):
    values = {"ingress": {"enabled": True, "tls": {"enabled": False}, "allowPlainHttp": True}}
    assert "tls" not in one(chart.render(values=values), "Ingress")["spec"]


def test_service_monitor(chart):
    monitor = one(chart.render("--values", str(PRODUCTION)), "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"


HELM_TEST_POD = {
    "podSelector": {
        "matchLabels": {"app.kubernetes.io/instance": "webdemo", "app.kubernetes.io/component": "helm-test"}
    }
}
API_PORT = [{"port": "http", "protocol": "TCP"}]


def test_the_production_network_policy_admits_the_controller_and_prometheus_only(chart):
    policy = one(chart.render("--values", str(PRODUCTION)), "NetworkPolicy")["spec"]
    assert policy["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "webdemo", "app.kubernetes.io/instance": "webdemo"}
    }
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["egress"] == []
    assert policy["ingress"] == [
        {
            "from": [
                # The ingress controller's namespace.
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kong"}}},
                # Prometheus: its pods in its namespace (one peer with both selectors: namespace AND pod).
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                },
            ],
            "ports": API_PORT,
        },
        {"from": [HELM_TEST_POD], "ports": API_PORT},
    ]


def test_the_network_policy_has_no_test_pod_rule_without_the_test(chart):
    policy = one(chart.render("--values", str(PRODUCTION), "--set", "tests.enabled=false"), "NetworkPolicy")["spec"]
    assert [peer for rule in policy["ingress"] for peer in rule["from"]] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kong"}}},
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        },
    ]


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
    pytest.param({"config": {"server": "uwsgi"}}, ["/config/server", "'gunicorn', 'granian'"], id="unknown-server"),
    pytest.param(
        {"config": {"server": "granian", "maxRequests": 1000}},
        ["config.maxRequests (1000) recycles gunicorn workers; granian cannot"],
        id="granian-max-requests",
    ),
    pytest.param(
        {"config": {"server": "granian", "accessLog": "/tmp/access.log"}},
        ['config.accessLog "/tmp/access.log": granian writes its access log to stdout only'],
        id="granian-access-log-file",
    ),
    pytest.param({"replicas": 2}, ["replicas"], id="misspelled-key"),
    pytest.param(
        {"terminationGracePeriodSeconds": 30}, ["terminationGracePeriodSeconds (30) must exceed"], id="short-grace"
    ),
    pytest.param(
        {"ingress": {"enabled": True, "paths": [{"path": "/", "pathType": "Prefix"}]}},
        ["ingress.paths: Prefix / would route /api/v1/info outside the cluster"],
        id="ingress-root-prefix",
    ),
    pytest.param(
        {"ingress": {"enabled": True, "paths": [{"path": "/api/v1", "pathType": "Prefix"}]}},
        ["ingress.paths: Prefix /api/v1 would route /api/v1/info"],
        id="ingress-api-prefix",
    ),
    pytest.param(
        {"ingress": {"enabled": True, "paths": [{"path": "/metrics", "pathType": "Exact"}]}},
        ["ingress.paths: Exact /metrics would route /metrics"],
        id="ingress-metrics",
    ),
    pytest.param(
        {"ingress": {"enabled": True, "paths": [{"path": "/api", "pathType": "ImplementationSpecific"}]}},
        ["/ingress/paths/0/pathType"],
        id="ingress-implementation-specific",
    ),
    pytest.param({"ingress": {"enabled": True, "paths": []}}, ["/ingress/paths", "minItems"], id="ingress-no-paths"),
    pytest.param(
        {"ingress": {"enabled": True, "tls": {"enabled": False}}},
        ["/ingress/tls/enabled", "value must be true"],
        id="ingress-without-tls",
    ),
    pytest.param(
        {"ingress": {"enabled": True, "tls": {"secretName": ""}}},
        ["/ingress/tls/secretName"],
        id="ingress-tls-without-secret",
    ),
    pytest.param(
        {"ingress": {"enabled": True, "className": "nginx", "hsts": {"enabled": True}}},
        ["ingress.hsts.enabled makes a KongPlugin, which only className kong uses"],
        id="hsts-without-kong",
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
TEMPLATE_ONLY = {
    "hpa-min-above-max",
    "short-grace",
    "ingress-root-prefix",
    "ingress-api-prefix",
    "ingress-metrics",
    "hsts-without-kong",
    "granian-max-requests",
    "granian-access-log-file",
}


@pytest.mark.parametrize(("values", "expected"), [p for p in BAD_VALUES if p.id not in TEMPLATE_ONLY])
def test_bad_values_are_rejected_by_lint(chart, values, expected):
    result = chart.lint(values=values)
    assert result.returncode != 0, result.stdout
    output = result.stdout + result.stderr
    for text in expected:
        assert text in output, output
