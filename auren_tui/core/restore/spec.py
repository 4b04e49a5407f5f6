"""Known-good run specs: what a container needs to be re-created exactly.

A spec is captured from ``docker inspect`` of a healthy container: the image
by ID (and its tags/digests for people), entrypoint and command, the env it
adds to its image's, ports, network mode and every network with its aliases
and static addresses, mounts, restart policy, every label it adds
(compose's included, so ``docker compose ps`` still knows a restored
container), healthcheck, user, working dir, stop signal and timeout, and the
run options (``OPTIONS``: extra hosts, ulimits, log config, capabilities,
devices, security options, tmpfs, init, privileges, resources, DNS, hostname).
Values of secret-looking env keys (``*_SECRET``, ``*PASSWORD*``, ``*TOKEN*``,
URLs with credentials, …) never go into the spec: they are stored in the
keyring and the spec names them. Creating a container from a spec is
``create.py``; comparing one with the running container, ``diff.py``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

SECRET_KEY = re.compile(
    r"(SECRET|PASSWORD|PASSWD|PASSPHRASE|TOKEN|API_?KEY|PRIVATE|CREDENTIAL|DSN|AUTH)", re.I
)
CREDENTIAL_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s:]+:[^/@\s]+@", re.I)


ATTEMPT_LABEL = "auren.restore-attempt"
"""Set on a container a restore created (which attempt): never part of a spec."""


class SpecError(ValueError):
    """A spec that cannot be captured, read or applied (one line)."""


@dataclass(frozen=True)
class SecretRef:
    """An env value kept in the keyring under ``name`` (for the profile)."""

    name: str


EnvValue = str | SecretRef


@dataclass(frozen=True)
class RunSpec:
    service: str
    container: str
    image_id: str
    image_refs: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: dict[str, EnvValue] = field(default_factory=dict)
    ports: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    """``"8080/tcp"`` -> ((host ip, host port), …)."""
    network_mode: str = "default"
    mounts: tuple[str, ...] = ()
    """``source:destination[:ro]`` (bind) or ``volume:destination[:ro]``."""
    restart_policy: str = "no"
    restart_retries: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    healthcheck: dict[str, Any] | None = None
    user: str = ""
    workdir: str = ""
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Every user-defined network: ``{"aliases": [...], "ipv4": "", "ipv6": ""}``."""
    options: dict[str, Any] = field(default_factory=dict)
    """Run options (``OPTIONS``), as docker SDK ``containers.create`` arguments."""
    stop_timeout: int | None = None
    captured_at: str = ""
    captured_by: str = ""
    version: int = 0

    # -- files -------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["env"] = {
            k: {"keyring": v.name} if isinstance(v, SecretRef) else v for k, v in self.env.items()
        }
        data["ports"] = {k: [list(b) for b in v] for k, v in self.ports.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> RunSpec:
        try:
            env: dict[str, EnvValue] = {}
            for key, value in dict(data.get("env") or {}).items():
                if isinstance(value, dict):
                    env[str(key)] = SecretRef(str(value["keyring"]))
                else:
                    env[str(key)] = str(value)
            return cls(
                service=str(data["service"]),
                container=str(data["container"]),
                image_id=str(data["image_id"]),
                image_refs=tuple(data.get("image_refs") or ()),
                entrypoint=_tuple(data.get("entrypoint")),
                cmd=_tuple(data.get("cmd")),
                env=env,
                ports={
                    str(k): tuple((str(b[0]), str(b[1])) for b in v)
                    for k, v in dict(data.get("ports") or {}).items()
                },
                network_mode=str(data.get("network_mode") or "default"),
                mounts=tuple(str(m) for m in data.get("mounts") or ()),
                restart_policy=str(data.get("restart_policy") or "no"),
                restart_retries=int(data.get("restart_retries") or 0),
                labels={str(k): str(v) for k, v in dict(data.get("labels") or {}).items()},
                healthcheck=data.get("healthcheck"),
                user=str(data.get("user") or ""),
                workdir=str(data.get("workdir") or ""),
                networks={str(k): dict(v) for k, v in dict(data.get("networks") or {}).items()},
                options={
                    str(k): v for k, v in dict(data.get("options") or {}).items() if k in OPTIONS
                },
                stop_timeout=_int_or_none(data.get("stop_timeout")),
                captured_at=str(data.get("captured_at") or ""),
                captured_by=str(data.get("captured_by") or ""),
                version=int(data.get("version") or 0),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"{where}: not a run spec ({type(exc).__name__}: {exc})") from None


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# docker SDK create argument -> (where in docker inspect, field): the run options a
# spec keeps when they are set (empty, zero and false are Docker's defaults).
OPTIONS: dict[str, tuple[str, str]] = {
    "extra_hosts": ("HostConfig", "ExtraHosts"),
    "ulimits": ("HostConfig", "Ulimits"),
    "log_config": ("HostConfig", "LogConfig"),
    "cap_add": ("HostConfig", "CapAdd"),
    "cap_drop": ("HostConfig", "CapDrop"),
    "devices": ("HostConfig", "Devices"),
    "security_opt": ("HostConfig", "SecurityOpt"),
    "tmpfs": ("HostConfig", "Tmpfs"),
    "init": ("HostConfig", "Init"),
    "privileged": ("HostConfig", "Privileged"),
    "read_only": ("HostConfig", "ReadonlyRootfs"),
    "shm_size": ("HostConfig", "ShmSize"),
    "sysctls": ("HostConfig", "Sysctls"),
    "dns": ("HostConfig", "Dns"),
    "dns_search": ("HostConfig", "DnsSearch"),
    "dns_opt": ("HostConfig", "DnsOptions"),
    "group_add": ("HostConfig", "GroupAdd"),
    "mem_limit": ("HostConfig", "Memory"),
    "nano_cpus": ("HostConfig", "NanoCpus"),
    "cpu_shares": ("HostConfig", "CpuShares"),
    "pids_limit": ("HostConfig", "PidsLimit"),
    "stop_signal": ("Config", "StopSignal"),
    "hostname": ("Config", "Hostname"),
    "domainname": ("Config", "Domainname"),
}


def _options(container: dict[str, Any]) -> dict[str, Any]:
    """The run options of ``container`` (docker inspect) that are set, as SDK arguments."""
    out: dict[str, Any] = {}
    mode = str((container.get("HostConfig") or {}).get("NetworkMode") or "")
    shares_uts = mode == "host" or mode.startswith("container:")
    for arg, (section, key) in OPTIONS.items():
        value = (container.get(section) or {}).get(key)
        if value in (None, "", 0, False, [], {}):
            continue
        if arg == "ulimits":
            value = [{"name": u["Name"], "soft": u["Soft"], "hard": u["Hard"]} for u in value]
        elif arg == "log_config":
            value = {"type": value.get("Type"), "config": dict(value.get("Config") or {})}
        elif arg == "devices":
            value = [
                f"{d['PathOnHost']}:{d['PathInContainer']}:{d.get('CgroupPermissions') or 'rwm'}"
                for d in value
            ]
        elif arg in ("hostname", "domainname") and (
            str(container.get("Id", "")).startswith(str(value)) or shares_uts
        ):
            continue  # Docker's default (the short id), or the host's / another container's
        out[arg] = value
    return out


def _networks(container: dict[str, Any], mode: str) -> dict[str, dict[str, Any]]:
    """Every user-defined network with the aliases and static addresses set for it."""
    if mode in ("host", "none") or mode.startswith("container:"):
        return {}
    automatic = {  # Docker adds these by itself: the short id, the name, the hostname
        str(container.get("Id", ""))[:12],
        str(container.get("Name", "")).lstrip("/"),
        str((container.get("Config") or {}).get("Hostname") or ""),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, endpoint in ((container.get("NetworkSettings") or {}).get("Networks") or {}).items():
        if name in ("bridge", "host", "none"):
            continue
        ipam = endpoint.get("IPAMConfig") or {}
        out[name] = {
            "aliases": sorted(a for a in endpoint.get("Aliases") or [] if a not in automatic),
            "ipv4": ipam.get("IPv4Address") or "",
            "ipv6": ipam.get("IPv6Address") or "",
        }
    return out


def _tuple(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def is_secret(key: str, value: str) -> bool:
    return bool(SECRET_KEY.search(key) or CREDENTIAL_URL.match(value))


def secret_name(service: str, key: str) -> str:
    """The keyring name of an env secret (profile-scoped by the store).

    Distinct keys always get distinct names: a key that had to be cleaned
    (``DB.PASSWORD`` next to ``DB_PASSWORD``) or shortened carries a hash of
    its exact spelling.
    """
    raw = f"env-{service}-{key}"
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", raw)
    if clean == raw and len(clean) <= 64:
        return clean
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{clean[:53]}-{digest}"


def _env_dict(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def capture(
    service: str,
    container: dict[str, Any],
    image: dict[str, Any],
    who: str,
) -> tuple[RunSpec, dict[str, str]]:
    """The spec of ``container`` (``docker inspect``), and the secret env values
    (keyring name -> value) that the caller must store in the keyring."""
    config = container.get("Config") or {}
    host = container.get("HostConfig") or {}
    image_config = image.get("Config") or {}
    image_env = _env_dict(image_config.get("Env"))
    env: dict[str, EnvValue] = {}
    secrets: dict[str, str] = {}
    for key, value in _env_dict(config.get("Env")).items():
        if image_env.get(key) == value:
            continue  # the image's own default: re-created from the image
        if is_secret(key, value):
            name = secret_name(service, key)
            secrets[name] = value
            env[key] = SecretRef(name)
        else:
            env[key] = value
    image_labels = image_config.get("Labels") or {}
    labels = {
        k: v
        for k, v in (config.get("Labels") or {}).items()
        if image_labels.get(k) != v and k != ATTEMPT_LABEL
    }
    ports = {
        port: tuple((b.get("HostIp") or "", b.get("HostPort") or "") for b in binds or [])
        for port, binds in (host.get("PortBindings") or {}).items()
    }
    mounts = []
    for m in container.get("Mounts") or []:
        source = m.get("Name") if m.get("Type") == "volume" else m.get("Source")
        suffix = "" if m.get("RW", True) else ":ro"
        mounts.append(f"{source}:{m.get('Destination')}{suffix}")
    health = config.get("Healthcheck")
    healthcheck = None
    if health and health.get("Test") and health.get("Test") != ["NONE"]:
        healthcheck = {
            "test": health.get("Test"),
            "interval": health.get("Interval") or 0,
            "timeout": health.get("Timeout") or 0,
            "retries": health.get("Retries") or 0,
            "start_period": health.get("StartPeriod") or 0,
        }
    restart = host.get("RestartPolicy") or {}
    spec = RunSpec(
        service=service,
        container=str(container.get("Name", "")).lstrip("/"),
        image_id=str(container.get("Image") or image.get("Id")),
        image_refs=tuple(image.get("RepoTags") or ()) + tuple(image.get("RepoDigests") or ()),
        entrypoint=_tuple(config.get("Entrypoint")),
        cmd=_tuple(config.get("Cmd")),
        env=env,
        ports=ports,
        network_mode=str(host.get("NetworkMode") or "default"),
        mounts=tuple(mounts),
        restart_policy=str(restart.get("Name") or "no"),
        restart_retries=int(restart.get("MaximumRetryCount") or 0),
        labels=labels,
        networks=_networks(container, str(host.get("NetworkMode") or "default")),
        options=_options(container),
        stop_timeout=_int_or_none(config.get("StopTimeout")),
        healthcheck=healthcheck,
        user=str(config.get("User") or ""),
        workdir=str(config.get("WorkingDir") or "")
        if config.get("WorkingDir") != image_config.get("WorkingDir")
        else "",
        captured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        captured_by=who,
    )
    return spec, secrets
