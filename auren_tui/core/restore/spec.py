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
keyring and the spec names them.
"""

from __future__ import annotations

import hashlib
import json
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

    # -- docker ------------------------------------------------------------------------------

    def create_kwargs(self, env: dict[str, str], name: str) -> dict[str, Any]:
        """Arguments of ``DockerClient.containers.create`` (``env`` resolved)."""
        kwargs: dict[str, Any] = {
            "image": self.image_id,
            "name": name,
            "environment": env,
            "labels": dict(self.labels),
            "detach": True,
        }
        if self.entrypoint is not None:
            kwargs["entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            kwargs["command"] = list(self.cmd)
        if self.ports:
            kwargs["ports"] = {
                port: [(ip, int(hp)) if ip else int(hp) for ip, hp in binds]
                for port, binds in self.ports.items()
            }
        if self.network_mode not in ("default", ""):
            if self.network_mode in ("host", "none", "bridge") or self.network_mode.startswith(
                "container:"
            ):
                kwargs["network_mode"] = self.network_mode
            else:
                kwargs["network"] = self.network_mode
        if self.mounts:
            kwargs["volumes"] = list(self.mounts)
        if self.restart_policy not in ("", "no"):
            policy: dict[str, Any] = {"Name": self.restart_policy}
            if self.restart_policy == "on-failure":
                policy["MaximumRetryCount"] = self.restart_retries
            kwargs["restart_policy"] = policy
        if self.healthcheck:
            kwargs["healthcheck"] = dict(self.healthcheck)
        if self.user:
            kwargs["user"] = self.user
        if self.workdir:
            kwargs["working_dir"] = self.workdir
        kwargs.update(self.options)
        return kwargs

    @property
    def primary_network(self) -> str | None:
        """The user-defined network the container is created on (its network mode)."""
        mode = self.network_mode
        if mode in ("", "default", "host", "none", "bridge") or mode.startswith("container:"):
            return None
        return mode

    def create(self, client: Any, env: dict[str, str], name: str, labels: dict[str, str]) -> Any:
        """Create (not start) the container on ``client``: every option, every network.

        The SDK's ``containers.create`` has no stop timeout and one network; the
        low-level call gets the stop timeout. The other networks are connected
        by ``connect_networks`` before the first start.
        """
        from docker.models.containers import _create_container_args

        kwargs = self.create_kwargs(env, name)
        kwargs["labels"] = {**kwargs.get("labels", {}), **labels}
        kwargs.pop("detach", None)
        primary = self.primary_network
        if primary is not None:
            kwargs.pop("network_mode", None)
            kwargs["network"] = primary
            kwargs["networking_config"] = {primary: _endpoint(client, self.networks.get(primary))}
        kwargs["version"] = client.api._version
        args = _create_container_args(kwargs)
        if self.stop_timeout is not None:
            args["stop_timeout"] = self.stop_timeout
        created = client.api.create_container(**args)
        return client.containers.get(created["Id"])

    def connect_networks(self, client: Any, container: Any) -> None:
        """Connect ``container`` to each of the spec's other networks it is not on yet
        (safe to repeat)."""
        container.reload()
        joined = set((container.attrs.get("NetworkSettings") or {}).get("Networks") or {})
        for network, endpoint in sorted(self.networks.items()):
            if network in joined:
                continue
            client.api.connect_container_to_network(
                container.id,
                network,
                aliases=list(endpoint.get("aliases") or []) or None,
                ipv4_address=endpoint.get("ipv4") or None,
                ipv6_address=endpoint.get("ipv6") or None,
            )


def _endpoint(client: Any, endpoint: dict[str, Any] | None) -> Any:
    endpoint = endpoint or {}
    return client.api.create_endpoint_config(
        aliases=list(endpoint.get("aliases") or []) or None,
        ipv4_address=endpoint.get("ipv4") or None,
        ipv6_address=endpoint.get("ipv6") or None,
    )


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


def comparable(spec: RunSpec) -> dict[str, Any]:
    """What ``diff`` compares: the spec without its bookkeeping."""
    data = spec.to_json()
    for key in ("captured_at", "captured_by", "version", "image_refs", "container"):
        data.pop(key, None)
    return data


@dataclass(frozen=True)
class Change:
    what: str
    kind: str  # "added", "removed", "changed"
    old: str = ""
    new: str = ""

    def line(self) -> str:
        if self.kind == "added":
            return f"+ {self.what}: {self.new}"
        if self.kind == "removed":
            return f"- {self.what}: {self.old}"
        return f"~ {self.what}: {self.old} -> {self.new}"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _mask(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return "(secret)" if isinstance(value, dict) and "keyring" in value else text


def diff(
    known: RunSpec, running: RunSpec, same_secret: dict[str, bool] | None = None
) -> list[Change]:
    """Changes from the known-good spec to the running container. Env values are
    masked (``***``); ``same_secret`` says whether a secret env value matches."""
    a, b = comparable(known), comparable(running)
    out: list[Change] = []
    for key in ("image_id", "entrypoint", "cmd", "network_mode", "restart_policy",
                "restart_retries", "user", "workdir", "healthcheck", "stop_timeout"):  # fmt: skip
        if a.get(key) != b.get(key):
            out.append(Change(key, "changed", _mask(a.get(key)), _mask(b.get(key))))
    for key, label in (("options", "option"), ("networks", "network")):
        left, right = a.get(key) or {}, b.get(key) or {}
        for k in sorted(set(left) | set(right)):
            if left.get(k) != right.get(k):
                kind = "added" if k not in left else "removed" if k not in right else "changed"
                out.append(
                    Change(f"{label} {k}", kind, _short(left.get(k, "")), _short(right.get(k, "")))
                )
    env_a, env_b = a["env"], b["env"]
    for key in sorted(set(env_a) | set(env_b)):
        if key not in env_b:
            out.append(Change(f"env {key}", "removed", "***"))
        elif key not in env_a:
            out.append(Change(f"env {key}", "added", new="***"))
        elif isinstance(env_a[key], dict) or isinstance(env_b[key], dict):
            if not (same_secret or {}).get(key, env_a[key] == env_b[key]):
                out.append(Change(f"env {key}", "changed", "***", "***"))
        elif env_a[key] != env_b[key]:
            out.append(Change(f"env {key}", "changed", "***", "***"))
    for key, label in (("ports", "port"), ("labels", "label")):
        left, right = a[key], b[key]
        for k in sorted(set(left) | set(right)):
            if left.get(k) != right.get(k):
                kind = "added" if k not in left else "removed" if k not in right else "changed"
                out.append(
                    Change(f"{label} {k}", kind, str(left.get(k, "")), str(right.get(k, "")))
                )
    old_m, new_m = set(a["mounts"]), set(b["mounts"])
    out += [Change("mount", "removed", m) for m in sorted(old_m - new_m)]
    out += [Change("mount", "added", new=m) for m in sorted(new_m - old_m)]
    return out
