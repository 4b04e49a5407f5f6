"""The deployment files: compose stack, env templates, Dockerfile, .dockerignore.

Nothing here builds an image or runs compose (no registry, no `docker compose`
on the test machines): the files are parsed and checked against REFERENCE §1,
and what can run locally does run (the bridge's check-config on the env
template, promtool on prometheus.yml, the image's HEALTHCHECK command).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices

from bridge_service.config import SECRET_FIELDS, Settings
from tests.bridge_service.process import BridgeProcess
from tests.services.base import ServiceUnavailable, find_binary, free_port, unavailable

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent

# REFERENCE §1: the containers this compose file runs, and their ports.
CONTAINERS = {
    "biometric-bridge": 8889,
    "auren-postgres": 5432,
    "auren-redis": 6379,
    "auren-kafka": 9092,
    "auren-prometheus": 9090,
    "auren-grafana": 3000,
}
NETWORK = "auren-network"
# Names of variables whose value is a credential.
SECRETISH = re.compile(r"PASS|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|AUTH", re.IGNORECASE)
# scheme://user:password@host, the way a DSN carries a password.
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/@:]*:[^\s/@]+@", re.IGNORECASE)
# A command-line flag given a literal secret (--requirepass x; a $VAR is fine).
FLAG_WITH_SECRET = re.compile(r"(?i)(^|\s)--?[\w-]*(pass|secret|token)[\w-]*[ =]+(?![\"']?\$)\S")
PLACEHOLDER = "change-me"


@functools.cache
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def env_files(service: dict[str, Any]) -> list[str]:
    """The service's env_file entries in any of compose's three spellings."""
    value = service.get("env_file", [])
    entries = value if isinstance(value, list) else [value]
    return [e["path"] if isinstance(e, dict) else e for e in entries]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment block, from the mapping or the list form."""
    value = service.get("environment", {})
    if isinstance(value, list):
        return dict(item.partition("=")[::2] for item in value)
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def read_env(path: Path) -> dict[str, str]:
    """A dotenv file as docker's env_file reads it: KEY=VALUE lines, # comments."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: line without '=': {line!r}"
        out[key.strip()] = value.strip()
    return out


def strings(node: object) -> list[str]:
    """Every string (and number) anywhere in a parsed YAML tree, keys included,
    and every list joined with spaces (a command in exec form)."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*strings(k), *strings(v))]
    if isinstance(node, list):
        joined = " ".join(str(item) for item in node if not isinstance(item, dict | list))
        return [joined, *(s for item in node for s in strings(item))]
    return [] if node is None else [str(node)]


# --- compose.yaml -----------------------------------------------------------------


def test_compose_runs_the_reference_containers_on_auren_network() -> None:
    assert set(services()) == set(CONTAINERS)
    for name, service in services().items():
        # Service name and container name agree, so both resolve on the network.
        assert service["container_name"] == name
        assert service["networks"] == [NETWORK], name
        assert service["restart"] == "unless-stopped", name
        assert "image" in service, name
    network = compose()["networks"][NETWORK]
    # Exactly "auren-network" (not "<project>_auren-network"), shared with
    # containers this file does not manage.
    assert network["name"] == NETWORK
    assert network["external"] is True


def test_only_the_bridge_is_published_beyond_loopback() -> None:
    for name, port in CONTAINERS.items():
        published = [str(p) for p in services()[name].get("ports", [])]
        assert published, f"{name} publishes no port"
        for mapping in published:
            assert mapping.endswith(f":{port}"), (name, mapping)
            if name != "biometric-bridge":
                assert mapping.startswith("127.0.0.1:"), (name, mapping)
    assert services()["biometric-bridge"]["ports"] == ["8889:8889"]


def test_bridge_is_built_here_and_waits_for_healthy_dependencies() -> None:
    bridge = services()["biometric-bridge"]
    assert bridge["image"] == "auren-biometric-bridge:production-enhanced"
    context = (DEPLOY / bridge["build"]["context"]).resolve()
    assert context == REPO
    assert (context / bridge["build"].get("dockerfile", "Dockerfile")).is_file()
    assert env_files(bridge) == ["./env/bridge.env"]
    depends = bridge["depends_on"]
    for dependency in ("auren-postgres", "auren-redis", "auren-kafka"):
        assert depends[dependency] == {"condition": "service_healthy"}
        check = services()[dependency]["healthcheck"]
        assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert "pg_isready" in " ".join(services()["auren-postgres"]["healthcheck"]["test"])
    assert "redis-cli" in services()["auren-redis"]["healthcheck"]["test"]
    # No override: the image's own HEALTHCHECK (GET /health) applies.
    assert "healthcheck" not in bridge


def test_kafka_is_single_node_kraft_advertising_its_network_name() -> None:
    kafka = services()["auren-kafka"]
    image, _, tag = kafka["image"].partition(":")
    assert image == "apache/kafka"
    assert re.fullmatch(r"3\.9\.\d+|4\.\d+\.\d+", tag), tag
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://auren-kafka:9092"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@")
    assert env["CLUSTER_ID"]
    # One broker: internal topics cannot ask for more replicas than exist.
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    # The data directory is the volume, so a re-created container keeps its topics.
    assert any(v.endswith(":" + env["KAFKA_LOG_DIRS"]) for v in kafka["volumes"])


def test_stateful_services_keep_data_in_named_volumes() -> None:
    declared = set(compose()["volumes"])
    for name, path in [
        ("auren-postgres", "/var/lib/postgresql/data"),
        ("auren-redis", "/data"),
        ("auren-kafka", "/var/lib/kafka/data"),
        ("auren-prometheus", "/prometheus"),
        ("auren-grafana", "/var/lib/grafana"),
    ]:
        mounts = [str(v).split(":") for v in services()[name]["volumes"]]
        assert any(m[0] in declared and m[1] == path for m in mounts), (name, mounts)


def test_prometheus_scrapes_the_bridge_metrics() -> None:
    mounts = [str(v) for v in services()["auren-prometheus"]["volumes"]]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {
        (job.get("metrics_path", "/metrics"), target)
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert ("/metrics", "biometric-bridge:8889") in jobs


def test_prometheus_config_passes_promtool() -> None:
    try:
        promtool = find_binary("promtool", "prometheus")
    except ServiceUnavailable as exc:
        unavailable(exc)
    result = subprocess.run(
        [promtool, "check", "config", str(DEPLOY / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- secrets ----------------------------------------------------------------------


def test_compose_holds_no_secret() -> None:
    for name, service in services().items():
        for key, value in environment(service).items():
            assert not SECRETISH.search(key), f"{name}: {key} belongs in an env file"
            assert not URL_WITH_PASSWORD.search(value), f"{name}: {key} carries a password"
    for text in strings(compose()):
        assert not URL_WITH_PASSWORD.search(text), text
        assert not FLAG_WITH_SECRET.search(text), text
        assert PLACEHOLDER not in text, text
    raw = (DEPLOY / "compose.yaml").read_text()
    assert not re.search(r"(?im)^\s*-?\s*[A-Z_]*(PASSWORD|SECRET)[A-Z_]*\s*[:=]", raw)


def test_every_env_file_has_a_committed_example() -> None:
    referenced = {path for service in services().values() for path in env_files(service)}
    assert referenced == {"./env/bridge.env", "./env/postgres.env", "./env/grafana.env"}
    for path in referenced:
        real = (DEPLOY / path).resolve()
        assert real.parent == DEPLOY / "env"
        assert real.with_name(real.name + ".example").is_file(), f"{path}.example is missing"


def test_real_env_files_are_never_committed() -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        ["git", "ls-files", "deploy/env"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert [name for name in tracked if not name.endswith(".env.example")] == []
    for name in ("bridge.env", "postgres.env", "grafana.env"):
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", f"deploy/env/{name}"], cwd=REPO, check=False
        )
        assert ignored.returncode == 0, f"deploy/env/{name} is not git-ignored"


def test_examples_hold_placeholders_only() -> None:
    examples = sorted((DEPLOY / "env").glob("*.env.example"))
    assert examples
    for path in examples:
        for key, value in read_env(path).items():
            if SECRETISH.search(key) or key.endswith("_URL"):
                parts = urlsplit(value) if "://" in value else None
                secret = parts.password if parts is not None else value
                if secret:
                    assert PLACEHOLDER in secret, f"{path.name}: {key} is not a placeholder"


def test_bridge_and_postgres_examples_agree_on_the_database() -> None:
    bridge = read_env(DEPLOY / "env" / "bridge.env.example")
    postgres = read_env(DEPLOY / "env" / "postgres.env.example")
    dsn = urlsplit(bridge["POSTGRES_URL"])
    assert (dsn.hostname, dsn.port) == ("auren-postgres", 5432)
    assert dsn.username == postgres["POSTGRES_USER"]
    assert dsn.password == postgres["POSTGRES_PASSWORD"]
    assert dsn.path == "/" + postgres["POSTGRES_DB"]
    assert urlsplit(bridge["REDIS_URL"]).hostname == "auren-redis"
    assert bridge["KAFKA_BOOTSTRAP_SERVERS"] == "auren-kafka:9092"


def _field(key: str) -> str | None:
    """The Settings field an environment variable sets (names and aliases, any case)."""
    wanted = key.lower()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        if wanted == name or wanted in {str(c).lower() for c in choices}:
            return name
    return None


def test_bridge_example_is_accepted_by_check_config(tmp_path: Path) -> None:
    example = DEPLOY / "env" / "bridge.env.example"
    values = read_env(example)
    # Unknown keys are ignored by design (the old bridge's restart loop), so a
    # misspelt one would pass silently: every key must name a setting.
    fields = {key: _field(key) for key in values}
    assert [k for k, f in fields.items() if f is None] == []

    # Only the file: nothing from this process's environment may fill a gap.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    result = subprocess.run(
        [str(BIN / "auren-bridge"), "--env-file", str(example), "check-config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    for key, value in values.items():
        field = fields[key]
        assert field is not None
        if field in SECRET_FIELDS:
            has_secret = urlsplit(value).password if "://" in value else value
            if has_secret:
                assert value not in result.stdout + result.stderr, f"{key} is shown in clear"
                assert "****" in shown[field], key
            else:  # a URL without a password is not hidden
                assert shown[field] == value, key
        elif isinstance(shown[field], list):
            assert shown[field] == [p.strip() for p in value.split(",") if p.strip()], key
        else:
            assert str(shown[field]).lower() == value.lower(), key


# --- Dockerfile and .dockerignore -------------------------------------------------


@functools.cache
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined: list[str] = []
    current = ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(current + stripped)
        current = ""
    assert not current, "Dockerfile ends in a continuation"
    out = []
    for instruction in joined:
        word, _, rest = instruction.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_dockerfile_is_multi_stage_python_311_slim() -> None:
    bases = [rest.split()[0] for word, rest in dockerfile() if word == "FROM"]
    assert len(bases) >= 2
    assert all(base == "python:3.11-slim" for base in bases)
    runs = " ".join(rest for word, rest in dockerfile() if word == "RUN")
    assert "pip wheel" in runs
    assert "auren-tui[bridge]" in runs
    # The runtime stage copies the built environment, not the sources.
    copies = [rest for word, rest in final_stage() if word == "COPY"]
    assert copies
    assert all(c.startswith("--from=") for c in copies), copies


def test_dockerfile_runs_the_bridge_as_non_root_on_8889() -> None:
    stage = final_stage()
    users = [rest for word, rest in stage if word == "USER"]
    assert users, "no USER: the bridge would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert ("WORKDIR", "/app") in stage
    env = " ".join(rest for word, rest in stage if word == "ENV")
    assert re.search(r"(^|\s)PORT=8889(\s|$)", env)
    assert ("EXPOSE", "8889") in stage
    cmds = [rest for word, rest in stage if word == "CMD"]
    assert json.loads(cmds[-1]) == ["auren-bridge", "serve"]


def healthcheck_command() -> str:
    checks = [rest for word, rest in final_stage() if word == "HEALTHCHECK"]
    assert len(checks) == 1
    options, sep, command = checks[0].partition("CMD ")
    assert sep, checks[0]
    assert "--interval=" in options
    assert "--timeout=" in options
    return command


def test_dockerfile_healthcheck_polls_health_with_urllib() -> None:
    command = healthcheck_command()
    assert "/health" in command
    assert "urllib" in command
    # python:3.11-slim has neither.
    assert "curl" not in command
    assert "wget" not in command


@pytest.mark.services
def test_healthcheck_command_passes_on_a_live_bridge_and_fails_otherwise(
    tmp_path: Path,
) -> None:
    """Run the HEALTHCHECK's own shell command, as docker would in the container."""
    command = healthcheck_command()
    base = {"PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"}

    def check(port: int) -> int:
        return subprocess.run(
            ["sh", "-c", command], env={**base, "PORT": str(port)}, timeout=30, check=False
        ).returncode

    assert check(free_port()) != 0  # nothing listening
    bridge = BridgeProcess(env={}, workdir=tmp_path).start()
    try:
        assert check(bridge.port) == 0
    finally:
        bridge.stop()


def _docker_included(patterns: list[str], path: str) -> bool:
    """Whether ``path`` is sent to the build (the last matching pattern decides)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        bare = pattern.removeprefix("!").strip("/")
        if any(fnmatch.fnmatchcase(prefix, bare) for prefix in prefixes):
            included = negated
    return included


def test_dockerignore_sends_only_the_sources() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert patterns[0] == "*", "an allow-list: everything is excluded first"
    sources = [
        token
        for word, rest in dockerfile()
        if word == "COPY" and not rest.startswith("--from=")
        for token in shlex.split(rest)[:-1]
    ]
    assert sources
    for source in sources:
        assert _docker_included(patterns, source), f"COPY {source} is excluded"
        assert (REPO / source).exists(), source
    for secret_or_state in (
        "deploy/env/bridge.env",
        "deploy/env/bridge.env.example",
        ".env",
        ".venv/bin/python",
        ".git/config",
        ".cache/kafka",
        "data/bridge.sqlite3",
        "tests/conftest.py",
        "bridge_service/__pycache__/app.cpython-311.pyc",
    ):
        assert not _docker_included(patterns, secret_or_state), secret_or_state
