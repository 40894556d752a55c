"""Generate kubeconform's JSON schemas offline, from sources the Go module proxy serves.

kubeconform normally downloads its schemas from GitHub, which these machines cannot reach. The same information ships
in Go modules:

* Kubernetes: ``k8s.io/kubernetes@<K8S_VERSION>`` contains ``api/openapi-spec/swagger.json`` (OpenAPI v2, every
  built-in kind).
* ExternalSecret (``external-secrets.io/v1``): ``github.com/external-secrets/external-secrets`` contains the CRD in
  ``config/crds/bases/external-secrets.io_externalsecrets.yaml``.
* ServiceMonitor (``monitoring.coreos.com/v1``): ``github.com/prometheus-operator/prometheus-operator`` contains
  ``example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml``.
* KongPlugin (``configuration.konghq.com/v1``, the chart's HSTS plugin): the Go module proxy does not serve Kong's
  modules (403), so its schema is written here (``KONG_PLUGIN``) from the fields of Kong's CRD reference
  (https://developer.konghq.com/kubernetes-ingress-controller/reference/custom-resources/): the top-level fields and
  their types, unknown fields refused; ``config`` is the plugin's own and stays free-form.

Output: one standalone schema per kind and version, named the way kubeconform's ``{{ .ResourceKind }}{{ .KindSuffix }}``
template expects (``deployment-apps-v1.json``, ``service-v1.json``, ``externalsecret-external-secrets-v1.json``), with
the referenced definitions embedded, ``int-or-string`` and ``Quantity`` accepting numbers as YAML writes them, and
``additionalProperties: false`` on every object that lists its properties (what kubeconform's ``-strict`` schemas do):
an unknown or misspelled field fails validation.

    python tests/chart/k8s_schemas.py .cache/k8s-schemas      # idempotent: skipped when the stamp matches
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

K8S_VERSION = "v1.36.3"  # the Kubernetes minor helm v3.21 targets (client-go v0.36)
EXTERNAL_SECRETS_VERSION = "v1.3.2"
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"

CRDS = [
    (
        "github.com/external-secrets/external-secrets",
        EXTERNAL_SECRETS_VERSION,
        "config/crds/bases/external-secrets.io_externalsecrets.yaml",
    ),
    (
        "github.com/prometheus-operator/prometheus-operator",
        PROMETHEUS_OPERATOR_VERSION,
        "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
    ),
]
STAMP = ".stamp"

# KongPlugin, configuration.konghq.com/v1 (see the module docstring: written here, not generated).
KONG_PLUGIN = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "plugin"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "configuration.konghq.com/v1"},
        "kind": {"const": "KongPlugin"},
        "metadata": {"type": "object"},
        "plugin": {"type": "string", "minLength": 1},
        "config": {"type": "object"},
        "configFrom": {"type": "object"},
        "configPatches": {"type": "array", "items": {"type": "object"}},
        "consumerRef": {"type": "string"},
        "disabled": {"type": "boolean"},
        "instance_name": {"type": "string"},
        "ordering": {"type": "object"},
        "protocols": {"type": "array", "items": {"type": "string"}},
        "run_on": {"type": "string"},
    },
}


def module_dir(module: str, version: str) -> Path:
    """Download a module through the Go module proxy (cached in GOMODCACHE) and return its directory."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
        cwd="/",
    )
    info = json.loads(out.stdout or "{}")
    if out.returncode != 0 or "Dir" not in info:
        raise SystemExit(f"k8s_schemas: go mod download {module}@{version} failed: {info.get('Error') or out.stderr}")
    return Path(info["Dir"])


def kind_file(kind: str, api_version: str) -> str:
    """kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json for a kind and apiVersion."""
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0].lower()}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def strictify(node, preserve_unknown_key="x-kubernetes-preserve-unknown-fields"):
    """additionalProperties: false on objects that list properties; int-or-string accepts integers."""
    if isinstance(node, dict):
        for value in node.values():
            strictify(value, preserve_unknown_key)
        if node.get("format") == "int-or-string" or node.get("x-kubernetes-int-or-string"):
            for key in ("type", "format"):
                node.pop(key, None)
            node["oneOf"] = [{"type": "string"}, {"type": "integer"}]
        if "properties" in node and "additionalProperties" not in node and not node.get(preserve_unknown_key):
            node["additionalProperties"] = False
        if isinstance(node.get("description"), str):  # not a property that is called "description"
            del node["description"]
    elif isinstance(node, list):
        for value in node:
            strictify(value, preserve_unknown_key)
    return node


def refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            found.add(ref[len("#/definitions/") :])
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def kubernetes_schemas(swagger: dict) -> dict[str, dict]:
    definitions = swagger["definitions"]
    # A YAML number is a valid Quantity ("cpu: 1"); the spec says string only.
    definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"oneOf": [{"type": "string"}, {"type": "number"}]}
    strict = {name: strictify(copy.deepcopy(schema)) for name, schema in definitions.items()}
    out: dict[str, dict] = {}
    for name, schema in definitions.items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            # Embed only the definitions this kind reaches (transitively); $refs stay internal.
            needed, todo = set(), {name}
            while todo:
                current = todo.pop()
                needed.add(current)
                found: set[str] = set()
                refs(strict[current], found)
                todo |= found - needed
            document = {"$ref": f"#/definitions/{name}", "definitions": {n: strict[n] for n in sorted(needed)}}
            out[kind_file(gvk["kind"], api_version)] = document
    return out


def crd_schemas(path: Path) -> dict[str, dict]:
    crd = yaml.safe_load(path.read_text())
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    out = {}
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        schema = strictify(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
        # The CRD's metadata is just `type: object`; check it as strictly as the built-in kinds do.
        schema.setdefault("properties", {})["metadata"] = {"type": "object"}
        out[kind_file(kind, f"{group}/{version['name']}")] = schema
    return out


def generate(target: Path) -> None:
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    stamp = f"{K8S_VERSION} {EXTERNAL_SECRETS_VERSION} {PROMETHEUS_OPERATOR_VERSION} {source}"
    if (target / STAMP).is_file() and (target / STAMP).read_text() == stamp:
        print(f"k8s_schemas: {target} up to date ({stamp})")
        return
    target.mkdir(parents=True, exist_ok=True)
    swagger_path = module_dir("k8s.io/kubernetes", K8S_VERSION) / "api/openapi-spec/swagger.json"
    schemas = kubernetes_schemas(json.loads(swagger_path.read_text()))
    k8s_count = len(schemas)
    for module, version, crd_path in CRDS:
        schemas.update(crd_schemas(module_dir(module, version) / crd_path))
    schemas[kind_file("KongPlugin", "configuration.konghq.com/v1")] = KONG_PLUGIN
    for name, schema in schemas.items():
        (target / name).write_text(json.dumps(schema, separators=(",", ":")))
    (target / STAMP).write_text(stamp)
    print(
        f"k8s_schemas: wrote {len(schemas)} schemas to {target}: {k8s_count} from kubernetes {K8S_VERSION} "
        f"swagger.json, {len(schemas) - k8s_count} from CRDs (external-secrets {EXTERNAL_SECRETS_VERSION}, "
        f"prometheus-operator {PROMETHEUS_OPERATOR_VERSION}; KongPlugin written here)"
    )


if __name__ == "__main__":
    generate(Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/k8s-schemas"))
