"""docker-compose.yml and the Dockerfile describe the topology the production smoke proves.

``scripts/production-smoke`` runs the commands of :mod:`deploy.topology` with exactly its environment
names; these tests hold the compose file and the image to the same module, so neither can drift from
what the smoke ran."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from deploy import topology

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _app_services(compose: dict) -> dict[str, dict]:
    return {name: service for name, service in compose["services"].items() if name in topology.SERVICES}


def test_every_process_of_the_topology_is_a_service_of_the_application_image(compose):
    services = _app_services(compose)
    assert set(services) == set(topology.SERVICES)
    for name, service in services.items():
        assert service.get("build") == ".", f"{name} does not run the project's image"


@pytest.mark.parametrize("name", list(topology.SERVICES))
def test_each_service_runs_the_smokes_command(compose, name):
    command = compose["services"][name]["command"]
    command = shlex.split(command) if isinstance(command, str) else command
    assert command == topology.command(name)


@pytest.mark.parametrize("name", list(topology.SERVICES))
def test_each_service_has_exactly_the_smokes_environment_names(compose, name):
    assert set(compose["services"][name]["environment"]) == set(topology.APP_ENVIRONMENT)


def test_the_smoke_sets_the_same_names_and_the_image_the_rest():
    smoke = (ROOT / "scripts" / "production_smoke.py").read_text()
    assert "topology.APP_ENVIRONMENT" in smoke and "topology.IMAGE_ENVIRONMENT" in smoke
    dockerfile = (ROOT / "Dockerfile").read_text()
    env_line = next(line for line in dockerfile.splitlines() if line.startswith("ENV "))
    for name in topology.IMAGE_ENVIRONMENT:
        assert re.search(rf"\b{name}=", env_line), f"the image does not set {name}"


def test_secrets_reach_the_services_only_as_files(compose):
    for name, service in _app_services(compose).items():
        for variable, value in service["environment"].items():
            if variable.endswith("_FILE"):
                secret = value.removeprefix("/run/secrets/")
                assert value.startswith("/run/secrets/") and secret in service["secrets"], (name, variable)
    assert not {"DJANGO_SECRET_KEY", "CA_KEK_KEYS", "AUDIT_CHAIN_KEY"} & set(topology.APP_ENVIRONMENT)


def test_the_image_runs_the_web_command_by_default():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd is not None
    assert yaml.safe_load(cmd.group(1)) == topology.command("web")


def test_health_checks_are_the_smokes(compose):
    services = compose["services"]
    assert services["web"]["healthcheck"]["test"] == ["CMD", *topology.web_healthcheck()]
    for name in topology.WORKER_NODES:
        test = services[name]["healthcheck"]["test"]
        assert test == ["CMD-SHELL", " ".join(topology.worker_healthcheck(name))], name
        assert f"-n {topology.WORKER_NODES[name]}@%h" in shlex.join(topology.command(name))


def test_the_signing_workers_node_name_survives_a_recreated_container(compose):
    assert compose["services"]["worker-signing"].get("hostname")


def test_the_checkpoint_file_is_on_a_volume_a_backup_can_take(compose):
    for name, service in _app_services(compose).items():
        assert "firma-var:/var/lib/firma" in service.get("volumes", []), name
    assert "firma-var" in compose["volumes"]
