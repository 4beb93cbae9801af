"""Static checks of docker-compose.yml and the Dockerfile: no Docker engine needed."""

from __future__ import annotations

import itertools
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.wire.redis_server import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = ROOT / "pyproject.toml"

CLI = "newswire"
APP_SERVICES = ("ingest", "enrich", "publish")
HTTP_PORTS = {"ingest": 8000, "publish": 8001}
REDIS_URL = "redis://redis:6379/0"
VALKEY_IMAGE = "valkey/valkey:8.1"

Doc = dict[str, Any]  # a mapping from the loaded compose file

# $VAR or ${VAR...} as compose interpolates it; $$ is a literal dollar sign.
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INTERPOLATION = re.compile(rf"(?<!\$)\$(?:\{{({_NAME})|({_NAME}))")


@pytest.fixture(scope="module")
def compose() -> Doc:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: Doc) -> Doc:
    return compose["services"]


@pytest.fixture(scope="module")
def scripts() -> dict[str, str]:
    with PYPROJECT.open("rb") as f:
        return tomllib.load(f)["project"]["scripts"]


def _argv(value: str | list[Any]) -> list[str]:
    """A compose ``command`` (string or list) as an argv list."""
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _healthcheck_argv(service: Doc) -> list[str]:
    """The healthcheck's command as argv; CMD-SHELL strings split as a shell would."""
    check = service.get("healthcheck")
    assert check, "no healthcheck"
    assert not check.get("disable", False), "healthcheck disabled"
    test = check["test"]
    if isinstance(test, str):
        return shlex.split(test)
    kind, *rest = test
    if kind == "CMD":
        return [str(v) for v in rest]
    assert kind == "CMD-SHELL", f"healthcheck test must be CMD or CMD-SHELL: {kind!r}"
    return shlex.split(" ".join(rest))


def _environment(service: Doc) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {p[0]: (p[1] if len(p) == 2 else None) for p in pairs}
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def _published_ports(service: Doc) -> set[tuple[int, int]]:
    """``(host port, container port)`` pairs, from short or long port syntax."""
    ports = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ports.add((int(port["published"]), int(port["target"])))
            continue
        parts = str(port).split("/", 1)[0].split(":")
        assert len(parts) >= 2, f"port {port!r} does not name a host port"
        ports.add((int(parts[-2]), int(parts[-1])))
    return ports


def _strings(node: Any) -> Iterator[str]:
    """Every key and string value in a loaded YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, args)`` pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


def _dockerfile_argv(args: str) -> list[str]:
    """CMD/ENTRYPOINT arguments in exec (JSON) or shell form, as argv."""
    return json.loads(args) if args.startswith("[") else shlex.split(args)


# -- redis / valkey ---------------------------------------------------------------


def test_redis_is_official_valkey_image(services: Doc) -> None:
    assert services["redis"]["image"].split("@")[0] == VALKEY_IMAGE


def test_redis_fsyncs_every_write(services: Doc) -> None:
    argv = _argv(services["redis"]["command"])
    options = dict(itertools.pairwise(argv))
    assert options.get("--appendonly") == "yes"
    assert options.get("--appendfsync") == "always"


def test_redis_runs_with_the_settings_the_wire_starts_its_own_server_with(services: Doc) -> None:
    options = dict(itertools.pairwise(_argv(services["redis"]["command"])))
    assert {name: options.get(f"--{name}") for name in SETTINGS} == SETTINGS


def test_redis_data_on_named_volume(compose: Doc) -> None:
    named = set(compose.get("volumes") or {})
    sources = []
    for mount in compose["services"]["redis"].get("volumes") or []:
        if isinstance(mount, dict):
            if mount.get("target") == "/data":
                assert mount.get("type", "volume") == "volume"
                sources.append(mount.get("source"))
        else:
            source, target, *_ = str(mount).split(":")
            if target == "/data":
                sources.append(source)
    assert len(sources) == 1, "exactly one mount at /data expected"
    assert sources[0] in named, f"{sources[0]!r} is not a top-level named volume"


def test_redis_healthcheck_pings(services: Doc) -> None:
    argv = _healthcheck_argv(services["redis"])
    assert argv[0] == "valkey-cli"
    assert "ping" in argv


def test_redis_port_not_published(services: Doc) -> None:
    assert not services["redis"].get("ports")


# -- ingest / enrich / publish -----------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_builds_from_dockerfile(services: Doc, name: str) -> None:
    build = services[name]["build"]
    if isinstance(build, str):
        build = {"context": build}
    context = ROOT / build.get("context", ".")
    dockerfile = context / build.get("dockerfile", "Dockerfile")
    assert dockerfile.resolve() == DOCKERFILE.resolve()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_runs_subcommand(services: Doc, scripts: dict[str, str], name: str) -> None:
    assert "entrypoint" not in services[name]
    argv = _argv(services[name]["command"])
    assert argv == [CLI, name]
    assert argv[0] in scripts


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_gets_redis_url(services: Doc, name: str) -> None:
    assert _environment(services[name]).get("REDIS_URL") == REDIS_URL


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_waits_for_healthy_redis(services: Doc, name: str) -> None:
    depends_on = services[name]["depends_on"]
    assert isinstance(depends_on, dict), "long form needed to carry a condition"
    assert depends_on["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_has_healthcheck(services: Doc, name: str) -> None:
    argv = _healthcheck_argv(services[name])
    if name in HTTP_PORTS:
        assert argv[0] == "python"  # slim images have no curl
        assert f"http://127.0.0.1:{HTTP_PORTS[name]}/health" in " ".join(argv)
    else:
        assert argv == [CLI, "health", name, "--local"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_ports(services: Doc, name: str) -> None:
    expected = {(HTTP_PORTS[name], HTTP_PORTS[name])} if name in HTTP_PORTS else set()
    assert _published_ports(services[name]) == expected


@pytest.mark.parametrize("name", sorted(HTTP_PORTS))
def test_http_service_binds_published_port(services: Doc, name: str) -> None:
    env = _environment(services[name])
    prefix = f"NEWSWIRE_{name.upper()}"
    assert env.get(f"{prefix}_HOST") == "0.0.0.0"
    assert env.get(f"{prefix}_PORT") == str(HTTP_PORTS[name])


def test_env_var_names(compose: Doc, services: Doc) -> None:
    names = set()
    for service in services.values():
        assert "env_file" not in service, "env_file would hide names from this check"
        names.update(_environment(service))
    for text in _strings(compose):
        names.update(a or b for a, b in _INTERPOLATION.findall(text))
    bad = sorted(n for n in names if n != "REDIS_URL" and not n.startswith("NEWSWIRE_"))
    assert not bad, f"env vars must be REDIS_URL or NEWSWIRE_*: {bad}"


# -- Dockerfile -------------------------------------------------------------------


def test_pyproject_declares_cli(scripts: dict[str, str]) -> None:
    assert scripts.get(CLI) == "services.wire.cli:main"


def test_dockerfile_runs_declared_cli(scripts: dict[str, str]) -> None:
    instructions = dict(_dockerfile_instructions())  # the last of each instruction wins
    if "ENTRYPOINT" in instructions:
        program = _dockerfile_argv(instructions["ENTRYPOINT"])[0]
    else:
        program = _dockerfile_argv(instructions["CMD"])[0]
    assert program == CLI
    assert program in scripts


def test_dockerfile_base_and_user() -> None:
    instructions = _dockerfile_instructions()
    bases = [args.split()[0] for keyword, args in instructions if keyword == "FROM"]
    assert bases[-1] == "python:3.11-slim"
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users, "image must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_enrich_runs_two_replicas_and_no_service_fixes_its_container_name(services: Doc) -> None:
    """Two enrich processes share its consumer group (the heaviest stage gets the idle cores); a fixed
    ``container_name`` would stop compose from starting a second one, or from scaling any service."""
    assert services["enrich"]["deploy"]["replicas"] == 2
    assert all("container_name" not in service for service in services.values())
