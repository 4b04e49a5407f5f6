"""How Docker creates a container from a run spec: every option, every network.

The restore engine calls ``create_container`` then ``connect_networks`` (both
safe to repeat) before the first start.
"""

from __future__ import annotations

from typing import Any

from auren_tui.core.restore.spec import RunSpec


def create_kwargs(spec: RunSpec, env: dict[str, str], name: str) -> dict[str, Any]:
    """Arguments of ``DockerClient.containers.create`` (``env`` resolved)."""
    kwargs: dict[str, Any] = {
        "image": spec.image_id,
        "name": name,
        "environment": env,
        "labels": dict(spec.labels),
        "detach": True,
    }
    if spec.entrypoint is not None:
        kwargs["entrypoint"] = list(spec.entrypoint)
    if spec.cmd is not None:
        kwargs["command"] = list(spec.cmd)
    if spec.ports:
        kwargs["ports"] = {
            port: [(ip, int(hp)) if ip else int(hp) for ip, hp in binds]
            for port, binds in spec.ports.items()
        }
    if spec.network_mode not in ("default", ""):
        if spec.network_mode in ("host", "none", "bridge") or spec.network_mode.startswith(
            "container:"
        ):
            kwargs["network_mode"] = spec.network_mode
        else:
            kwargs["network"] = spec.network_mode
    if spec.mounts:
        kwargs["volumes"] = list(spec.mounts)
    if spec.restart_policy not in ("", "no"):
        policy: dict[str, Any] = {"Name": spec.restart_policy}
        if spec.restart_policy == "on-failure":
            policy["MaximumRetryCount"] = spec.restart_retries
        kwargs["restart_policy"] = policy
    if spec.healthcheck:
        kwargs["healthcheck"] = dict(spec.healthcheck)
    if spec.user:
        kwargs["user"] = spec.user
    if spec.workdir:
        kwargs["working_dir"] = spec.workdir
    kwargs.update(spec.options)
    return kwargs


def primary_network(spec: RunSpec) -> str | None:
    """The user-defined network the container is created on (its network mode)."""
    mode = spec.network_mode
    if mode in ("", "default", "host", "none", "bridge") or mode.startswith("container:"):
        return None
    return mode


def create_container(
    spec: RunSpec, client: Any, env: dict[str, str], name: str, labels: dict[str, str]
) -> Any:
    """Create (not start) the container on ``client``: every option, every network.

    The SDK's ``containers.create`` has no stop timeout and one network; the
    low-level call gets the stop timeout. The other networks are connected
    by ``connect_networks`` before the first start.
    """
    from docker.models.containers import _create_container_args

    kwargs = create_kwargs(spec, env, name)
    kwargs["labels"] = {**kwargs.get("labels", {}), **labels}
    kwargs.pop("detach", None)
    primary = primary_network(spec)
    if primary is not None:
        kwargs.pop("network_mode", None)
        kwargs["network"] = primary
        kwargs["networking_config"] = {primary: _endpoint(client, spec.networks.get(primary))}
    kwargs["version"] = client.api._version
    args = _create_container_args(kwargs)
    if spec.stop_timeout is not None:
        args["stop_timeout"] = spec.stop_timeout
    created = client.api.create_container(**args)
    return client.containers.get(created["Id"])


def connect_networks(spec: RunSpec, client: Any, container: Any) -> None:
    """Connect ``container`` to each of the spec's other networks it is not on yet
    (safe to repeat)."""
    container.reload()
    joined = set((container.attrs.get("NetworkSettings") or {}).get("Networks") or {})
    for network, endpoint in sorted(spec.networks.items()):
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
