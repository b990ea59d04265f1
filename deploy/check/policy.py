"""Rules the deployment files must follow beyond their schemas, checked on what is deployed.

    python policy.py k8s RENDERED.yaml [--external-secret NAME]...
    python policy.py compose COMPOSE_CONFIG.json --compose-file docker-compose.yml --env-example .env.example

The schemas say a manifest is well formed; these rules say it is what issue 7 asks for:
unprivileged pods with probes and resources, a disruption budget for every workload, the
autoscaled workers, references (ConfigMaps, Secrets, Services, ports) that resolve, and a
Compose file whose services wait for healthy dependencies and whose variables are all
documented. Runs with the deploy-check venv's Python (PyYAML); prints every violation and
exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

AUTOSCALED = frozenset({"indicators", "charts", "llm-analyst", "signals", "lineage"})
BUS_SERVICES = (
    "lineage", "notifier", "ledger", "backtester", "market-data", "indicators", "charts", "llm-analyst", "signals",
    "scheduler", "broker",
)  # fmt: skip
COMPOSE_SERVICES = frozenset({*BUS_SERVICES, "gateway", "nats", "postgres"})
WORKLOADS = frozenset({"Deployment", "StatefulSet", "Job"})
LONG_RUNNING = frozenset({"Deployment", "StatefulSet"})
WAITING_CONDITIONS = frozenset({"service_healthy", "service_completed_successfully"})
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
# A documented variable: `NAME=value`, or `# NAME=example` for one left unset by default.
ENV_EXAMPLE_LINE = re.compile(r"^(?:# )?([A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)


def k8s_violations(resources: list[Resource], external_secrets: frozenset[str]) -> Iterator[str]:
    """Every rule a rendered overlay breaks, one message each."""
    by_kind: dict[str, dict[str, Resource]] = {}
    for resource in resources:
        by_kind.setdefault(resource["kind"], {})[resource["metadata"]["name"]] = resource
    config_maps = set(by_kind.get("ConfigMap", {}))
    secrets = set(by_kind.get("Secret", {})) | external_secrets
    workloads = [resource for resource in resources if resource["kind"] in WORKLOADS]

    for workload in workloads:
        yield from _pod_violations(workload, config_maps, secrets)
    yield from _disruption_budget_violations(workloads, list(by_kind.get("PodDisruptionBudget", {}).values()))
    yield from _autoscaler_violations(by_kind.get("Deployment", {}), by_kind.get("HorizontalPodAutoscaler", {}))
    yield from _service_violations(workloads, by_kind.get("Service", {}).values())
    yield from _ingress_violations(by_kind.get("Ingress", {}).values(), by_kind.get("Service", {}))
    yield from _replica_violations(by_kind)


def _name(resource: Resource) -> str:
    return f"{resource['kind']}/{resource['metadata']['name']}"


def _pod_template(workload: Resource) -> Resource:
    template: Resource = workload["spec"]["template"]
    return template


def _pod_violations(workload: Resource, config_maps: set[str], secrets: set[str]) -> Iterator[str]:
    name = _name(workload)
    pod = _pod_template(workload)["spec"]
    security = pod.get("securityContext", {})
    if security.get("runAsNonRoot") is not True:
        yield f"{name}: pod securityContext.runAsNonRoot must be true"
    if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        yield f"{name}: pod securityContext.seccompProfile.type must be RuntimeDefault"
    if pod.get("automountServiceAccountToken") is not False:
        yield f"{name}: automountServiceAccountToken must be false (no pod talks to the Kubernetes API)"
    for volume in pod.get("volumes", []):
        config_map = volume.get("configMap", {}).get("name")
        if config_map is not None and config_map not in config_maps:
            yield f"{name}: volume {volume['name']} names ConfigMap {config_map}, which is not rendered"
    for container in pod["containers"]:
        yield from _container_violations(workload, container, config_maps, secrets)


def _container_violations(
    workload: Resource, container: Resource, config_maps: set[str], secrets: set[str]
) -> Iterator[str]:
    where = f"{_name(workload)} container {container['name']}"
    image: str = container["image"]
    tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
    if tag in {"", "latest"}:
        yield f"{where}: image {image} needs a version tag"
    resources = container.get("resources", {})
    for field in ("requests.cpu", "requests.memory", "limits.memory"):
        group, _, key = field.partition(".")
        if key not in resources.get(group, {}):
            yield f"{where}: resources.{field} is missing"
    yield from _security_violations(where, container.get("securityContext", {}))
    if workload["kind"] in LONG_RUNNING:
        yield from _probe_violations(where, container)
    for ref_kind, ref_name in _env_references(container):
        known = config_maps if ref_kind == "ConfigMap" else secrets
        if ref_name not in known:
            yield f"{where}: references {ref_kind} {ref_name}, which is neither rendered nor declared external"


def _security_violations(where: str, security: Resource) -> Iterator[str]:
    if security.get("allowPrivilegeEscalation") is not False:
        yield f"{where}: securityContext.allowPrivilegeEscalation must be false"
    if security.get("readOnlyRootFilesystem") is not True:
        yield f"{where}: securityContext.readOnlyRootFilesystem must be true"
    if "ALL" not in security.get("capabilities", {}).get("drop", []):
        yield f"{where}: securityContext.capabilities.drop must contain ALL"


def _probe_violations(where: str, container: Resource) -> Iterator[str]:
    port_names = {port["name"] for port in container.get("ports", []) if "name" in port}
    for probe in ("livenessProbe", "readinessProbe"):
        if probe not in container:
            yield f"{where}: {probe} is missing"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        port = container.get(probe, {}).get("httpGet", {}).get("port")
        if isinstance(port, str) and port not in port_names:
            yield f"{where}: {probe} uses port {port!r}, which the container does not declare"


def _env_references(container: Resource) -> Iterator[tuple[str, str]]:
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            yield "ConfigMap", source["configMapRef"]["name"]
        if "secretRef" in source:
            yield "Secret", source["secretRef"]["name"]
    for variable in container.get("env", []):
        value_from = variable.get("valueFrom", {})
        if "configMapKeyRef" in value_from:
            yield "ConfigMap", value_from["configMapKeyRef"]["name"]
        if "secretKeyRef" in value_from:
            yield "Secret", value_from["secretKeyRef"]["name"]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def _disruption_budget_violations(workloads: list[Resource], budgets: list[Resource]) -> Iterator[str]:
    for workload in workloads:
        if workload["kind"] not in LONG_RUNNING:
            continue
        labels = _pod_template(workload)["metadata"].get("labels", {})
        if not any(_selects(budget["spec"]["selector"].get("matchLabels", {}), labels) for budget in budgets):
            yield f"{_name(workload)}: no PodDisruptionBudget selects its pods"


def _autoscaler_violations(deployments: dict[str, Resource], autoscalers: dict[str, Resource]) -> Iterator[str]:
    targets = set()
    for autoscaler in autoscalers.values():
        target = autoscaler["spec"]["scaleTargetRef"]
        if target["kind"] != "Deployment" or target["name"] not in deployments:
            yield f"{_name(autoscaler)}: scales {target['kind']}/{target['name']}, which is not rendered"
            continue
        targets.add(target["name"])
        if "replicas" in deployments[target["name"]]["spec"]:
            yield f"Deployment/{target['name']}: sets replicas although an autoscaler owns them"
    for missing in sorted(AUTOSCALED - targets):
        yield f"Deployment/{missing}: has no HorizontalPodAutoscaler"
    for deployment in deployments.values():
        labels = _pod_template(deployment)["metadata"].get("labels", {})
        affinity = _pod_template(deployment)["spec"].get("affinity", {})
        if labels.get("app.kubernetes.io/component") == "worker" and "podAntiAffinity" not in affinity:
            yield f"{_name(deployment)}: a worker needs podAntiAffinity to spread its replicas"


def _service_violations(workloads: list[Resource], services: Any) -> Iterator[str]:
    for service in services:
        selector = service["spec"].get("selector", {})
        pods = [
            _pod_template(workload)
            for workload in workloads
            if _selects(selector, _pod_template(workload)["metadata"].get("labels", {}))
        ]
        if not pods:
            yield f"{_name(service)}: its selector {selector} matches no pods"
            continue
        declared = {
            port.get("name")
            for pod in pods
            for container in pod["spec"]["containers"]
            for port in container.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            target = port.get("targetPort")
            if isinstance(target, str) and target not in declared:
                yield f"{_name(service)}: targetPort {target!r} is not a port of the pods it selects"


def _ingress_violations(ingresses: Any, services: dict[str, Resource]) -> Iterator[str]:
    for ingress in ingresses:
        for rule in ingress["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path["backend"]["service"]
                service = services.get(backend["name"])
                if service is None:
                    yield f"{_name(ingress)}: routes to Service/{backend['name']}, which is not rendered"
                    continue
                wanted = backend["port"].get("name") or backend["port"].get("number")
                ports = {port.get("name") for port in service["spec"]["ports"]} | {
                    port["port"] for port in service["spec"]["ports"]
                }
                if wanted not in ports:
                    yield f"{_name(ingress)}: Service/{backend['name']} has no port {wanted!r}"


def _replica_violations(by_kind: dict[str, dict[str, Resource]]) -> Iterator[str]:
    nats = by_kind.get("StatefulSet", {}).get("nats")
    if nats is None:
        yield "StatefulSet/nats: the NATS cluster is not rendered"
        return
    for config_map in by_kind.get("ConfigMap", {}).values():
        wanted = config_map.get("data", {}).get("TRADELANE_STREAM_REPLICAS")
        if wanted is not None and int(wanted) > nats["spec"]["replicas"]:
            yield (
                f"{_name(config_map)}: TRADELANE_STREAM_REPLICAS={wanted} needs as many NATS servers, "
                f"StatefulSet/nats has {nats['spec']['replicas']}"
            )
    if "tradelane-provision" not in by_kind.get("Job", {}):
        yield "Job/tradelane-provision: the stream provisioning Job is not rendered"


def compose_violations(config: Resource, compose_file: str, env_example: str) -> Iterator[str]:
    """Every rule the resolved Compose configuration (``config --format json``) breaks."""
    services: dict[str, Resource] = config["services"]
    for missing in sorted(COMPOSE_SERVICES - set(services)):
        yield f"compose: service {missing} is missing"
    for name, service in services.items():
        health = service.get("healthcheck", {})
        # Services in a profile (the cli) and one-shot ones (restart: "no", the provisioning)
        # are commands, not long-running.
        one_shot = "profiles" in service or service.get("restart") == "no"
        if not one_shot and (not health.get("test") or health.get("disable")):
            yield f"compose: service {name} has no health check"
        for dependency, condition in service.get("depends_on", {}).items():
            if condition.get("condition") not in WAITING_CONDITIONS:
                yield f"compose: {name} starts without waiting for {dependency} to be healthy"
        if "build" in service:
            if service.get("read_only") is not True:
                yield f"compose: service {name} must run with read_only: true"
            if "ALL" not in service.get("cap_drop", []):
                yield f"compose: service {name} must drop ALL capabilities"
    for name in ("nats", "postgres"):
        if name in services and not any(mount.get("type") == "volume" for mount in services[name].get("volumes", [])):
            yield f"compose: {name} keeps its data in no volume"
    documented = set(ENV_EXAMPLE_LINE.findall(env_example))
    for variable in sorted(set(COMPOSE_VARIABLE.findall(compose_file)) - documented):
        yield f"compose: ${{{variable}}} is used in docker-compose.yml but not documented in .env.example"
    passed_through = {
        variable
        for service in services.values()
        for variable, value in service.get("environment", {}).items()
        if value is None
    }
    for variable in sorted(passed_through - documented):
        yield f"compose: {variable} is passed from .env to a service but not documented in .env.example"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    k8s = commands.add_parser("k8s", help="check a rendered overlay")
    k8s.add_argument("rendered", type=Path)
    k8s.add_argument("--external-secret", action="append", default=[], help="a Secret the cluster provides")
    compose = commands.add_parser("compose", help="check the resolved Compose configuration")
    compose.add_argument("config", type=Path)
    compose.add_argument("--compose-file", type=Path, required=True)
    compose.add_argument("--env-example", type=Path, required=True)
    args = parser.parse_args(argv)

    if args.command == "k8s":
        resources = [doc for doc in yaml.safe_load_all(args.rendered.read_text()) if doc]
        violations = list(k8s_violations(resources, frozenset(args.external_secret)))
        subject = str(args.rendered)
    else:
        config = json.loads(args.config.read_text())
        violations = list(compose_violations(config, args.compose_file.read_text(), args.env_example.read_text()))
        subject = str(args.compose_file)
    for violation in violations:
        sys.stderr.write(f"POLICY {violation}\n")
    if violations:
        sys.stderr.write(f"{subject}: {len(violations)} policy violation(s)\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
