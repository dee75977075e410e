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
                     "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy", "NetworkPolicy",
                     "NetworkPolicy", "PersistentVolumeClaim", "PodDisruptionBudget", "Service",
                     "Service"]
    assert {resource["metadata"]["name"]: validation_errors(resource)
            for resource in resources} == {resource["metadata"]["name"]: []
                                           for resource in resources}


def test_the_schema_check_refuses_a_broken_manifest(resources):
    rasa = next(r for r in resources if r["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(rasa))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "5005"
    broken["spec"]["replica"] = 2  # misspelt: strict validation refuses unknown fields
    assert validation_errors(broken)


def listening_address(container: dict, settings: dict) -> tuple[str, int]:
    """Where the container's process listens, read from the manifest as the process reads
    it: Rasa's --interface/--port, else the *_HOST/*_PORT its settings module takes."""
    command = container["command"]
    if "--interface" in command:
        return (command[command.index("--interface") + 1],
                int(command[command.index("--port") + 1]))
    variables = {**settings, **{variable["name"]: variable.get("value")
                                for variable in container.get("env", [])}}
    prefix = {"actions": "ACTIONS", "console": "STAFF", "funnel": "FUNNEL_HEALTH"}[
        container["name"]]
    port = variables.get(f"{prefix}_PORT") or next(
        port["containerPort"] for port in container["ports"])
    return variables[f"{prefix}_HOST"], int(port)


def test_every_container_is_probed_where_it_really_listens(resources):
    # The kubelet sends an HTTP probe to the pod's address: only a process listening on
    # every address can answer it. One on loopback must be probed from inside its container.
    settings = next(r for r in resources if r["kind"] == "ConfigMap")["data"]
    probed = {}
    for deployment in (r for r in resources if r["kind"] == "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            host, port = listening_address(container, settings)
            health = HEALTH_PATHS[container["name"]]
            for probe in ("readinessProbe", "livenessProbe"):
                check = container[probe]
                if "httpGet" in check:
                    assert host == "0.0.0.0", container["name"]
                    assert check["httpGet"]["path"] == health
                    assert {"name": check["httpGet"]["port"], "containerPort": port} in [
                        {"name": p["name"], "containerPort": p["containerPort"]}
                        for p in container["ports"]]
                else:
                    assert f"http://{host}:{port}{health}" in " ".join(
                        check["exec"]["command"]), container["name"]
                probed[container["name"]] = host
    assert probed == {"rasa": "0.0.0.0", "actions": "127.0.0.1", "console": "0.0.0.0",
                      "funnel": "0.0.0.0"}


def test_pods_carry_no_api_token_and_containers_no_privileges(resources):
    for deployment in (r for r in resources if r["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_only_the_ingress_and_the_console_may_connect_to_rasa(resources):
    policies = {r["spec"]["podSelector"]["matchLabels"]["component"]: r["spec"]
                for r in resources if r["kind"] == "NetworkPolicy"}
    assert set(policies) == {"rasa", "console", "funnel"}
    assert all(policy["policyTypes"] == ["Ingress"] for policy in policies.values())
    [rasa_rule] = policies["rasa"]["ingress"]
    assert rasa_rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
        {"podSelector": {"matchLabels": {"app": "iop-assistant", "component": "console"}}}]
    assert rasa_rule["ports"] == [{"port": 5005, "protocol": "TCP"}]
    [console_rule] = policies["console"]["ingress"]
    assert console_rule["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "ingress-internal"}}}]
    assert "ingress" not in policies["funnel"]  # no connection is let in at all


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


def test_the_action_server_gets_only_the_secrets_it_uses(resources):
    rasa = next(r for r in resources if r["metadata"]["name"] == "iop-assistant-rasa")
    containers = {c["name"]: c for c in rasa["spec"]["template"]["spec"]["containers"]}
    given = {variable["name"] for variable in containers["actions"]["env"]
             if "secretKeyRef" in variable.get("valueFrom", {})}
    assert given == {"DATABASE_URL", "ACTION_SERVER_TOKEN", "LEADS_ENCRYPTION_KEY",
                     "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"}
    assert "RASA_API_TOKEN" in {variable["name"] for variable in containers["rasa"]["env"]}


def test_every_pod_spools_to_its_own_directory_of_one_shared_volume_and_drains_the_rest(
        resources):
    rasa = next(r for r in resources if r["metadata"]["name"] == "iop-assistant-rasa")
    pod = rasa["spec"]["template"]["spec"]
    claims = {volume["name"]: volume["persistentVolumeClaim"]["claimName"]
              for volume in pod["volumes"] if "persistentVolumeClaim" in volume}
    claim = next(r for r in resources if r["kind"] == "PersistentVolumeClaim")
    assert claims == {"lead-spools": claim["metadata"]["name"]}
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # every pod mounts it
    settings = next(r for r in resources if r["kind"] == "ConfigMap")["data"]
    assert "LEAD_SPOOL_DIR" not in settings
    for container in pod["containers"]:
        mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
        env = {variable["name"]: variable for variable in container["env"]}
        # Both containers of a pod share its directory; no two pods share one.
        assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        assert env["LEAD_SPOOL_DIR"]["value"] == f"{mounts['lead-spools']}/$(POD_NAME)"
        assert settings["LEAD_SPOOL_PEERS"] == f"{mounts['lead-spools']}/*"
