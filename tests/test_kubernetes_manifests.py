"""The Kubernetes manifests (deploy/kubernetes): rendered, and valid for Kubernetes' schemas.

They cannot be deployed here (no cluster); these tests check what can be checked without one.
"""
from __future__ import annotations

import re

import pytest
import yaml

from scripts.render_kubernetes import DEFAULT_VALUES, TEMPLATE, render

# The oldest Kubernetes the manifests are written for (autoscaling/v2, policy/v1).
KUBERNETES_VERSION = "1.28.0"
# What each process really answers on (bot/actions/server.py OPEN_PATHS, the console's
# /health route, Rasa's GET /).
HEALTH_PATHS = {"rasa": "/", "actions": "/health", "console": "/health", "funnel": "/health"}


@pytest.fixture(scope="module")
def resources() -> list[dict]:
    return [document for document in yaml.safe_load_all(render()) if document]


def validation_errors(resource: dict) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [str(error.message)]
    return []


def test_every_rendered_resource_is_valid_for_the_kubernetes_schemas(resources):
    kinds = sorted(resource["kind"] for resource in resources)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "Deployment",
                     "HorizontalPodAutoscaler",
                     "Ingress", "PodDisruptionBudget", "Service", "Service"]
    assert {resource["metadata"]["name"]: validation_errors(resource)
            for resource in resources} == {resource["metadata"]["name"]: []
                                           for resource in resources}


def test_the_schema_check_refuses_a_broken_manifest(resources):
    rasa = next(r for r in resources if r["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(rasa))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "5005"
    broken["spec"]["replica"] = 2  # misspelt: strict validation refuses unknown fields
    assert validation_errors(broken)


def test_every_container_is_probed_on_its_real_health_endpoint(resources):
    for deployment in (r for r in resources if r["kind"] == "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            ports = {port["name"] for port in container["ports"]}
            for probe in ("readinessProbe", "livenessProbe"):
                check = container[probe]["httpGet"]
                assert check["path"] == HEALTH_PATHS[container["name"]], container["name"]
                assert check["port"] in ports


def test_secrets_are_only_referenced_never_written_in(resources):
    lines = [line for line in render().splitlines() if not line.lstrip().startswith("#")]
    # No URL with credentials in it (user@ or user:password@).
    assert not [line for line in lines if re.search(r"://[^/\s\"]*@", line)]
    for resource in resources:
        if resource["kind"] != "Deployment":
            continue
        for container in resource["spec"]["template"]["spec"]["containers"]:
            for variable in container.get("env", []):
                if variable["name"].endswith(("_URL", "_TOKEN", "_SECRET", "_KEY", "PASSWORD",
                                              "_SID")):
                    assert "secretKeyRef" in variable.get("valueFrom", {}), variable["name"]


def test_the_autoscaler_scales_the_rasa_deployment_from_two(resources):
    scaler = next(r for r in resources if r["kind"] == "HorizontalPodAutoscaler")
    target = scaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "iop-assistant-rasa")
    assert scaler["spec"]["minReplicas"] >= 2


def test_only_the_channels_are_public_not_rasas_http_api(resources):
    ingress = next(r for r in resources if r["kind"] == "Ingress")
    paths = [path["path"] for rule in ingress["spec"]["rules"]
             for path in rule["http"]["paths"]]
    assert paths == ["/webhooks/", "/socket.io/"]


def test_a_missing_value_is_named_not_rendered_empty(tmp_path):
    values = yaml.safe_load(DEFAULT_VALUES.read_text())
    del values["image"]
    (tmp_path / "values.yml").write_text(yaml.safe_dump(values))
    with pytest.raises(SystemExit, match="image"):
        render(tmp_path / "values.yml", TEMPLATE)
