"""The same stack as Kubernetes manifests: one Deployment and one Service per server, the
tokens in a Secret, the same order and health gates.

- Each server's container runs ``<command> serve`` on port 8000 of its own pod, with its
  settings as environment, its data on an ``emptyDir`` and ``PUBLIC_URL`` set to its
  Service's address (what it registers, so peers reach it through the Service).
- ``readinessProbe`` is ``/ready`` and ``livenessProbe`` is ``/health``: Kubernetes routes to
  a pod once it is ready and restarts it when it stops answering, as the supervisor does.
- Ordering: an init container (the server's own image, its own Python) waits until every
  server it depends on, the registry first, answers ``/ready`` through its Service; so a pod
  starts only after what it needs is up, as apply's gate does.
- The registry and API tokens come from one Secret (``<stack>-tokens``) by ``secretKeyRef``;
  the manifests themselves carry no secret in their environment.

Images are the owner's to build (the server installed with its command on PATH); the default
``<dist>:<version>`` name can be set per server with ``image`` in the stack file.

An etcd registry (``backend: etcd``, one or three members) becomes a StatefulSet with a headless
Service (see ``etcd_manifests``): stable member names whose DNS names make up the static
``--initial-cluster``, a volume claim per member, and the registry's init container waiting for
every member's ``/health``.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

from .errors import NotApplied
from .etcd_kubernetes import CLIENT_PORT, etcd_manifests, member_url
from .stackfile import REGISTRY, LoadedStack
from .state import StackState

PORT = 8000
_WAIT = (
    "import sys, time, urllib.request\n"
    "for url in sys.argv[1:]:\n"
    "    while True:\n"
    "        try:\n"
    "            if urllib.request.urlopen(url, timeout=2).status == 200:\n"
    "                break\n"
    "        except Exception:\n"
    "            pass\n"
    "        time.sleep(1)\n"
)


def manifests(loaded: LoadedStack, state: StackState, order: list[str], out: Path) -> list[Path]:
    stack = loaded.stack.name
    order = [s for s in order if s not in loaded.members]  # the members are one StatefulSet below
    missing = [s for s in order if s not in state.servers or not state.servers[s].command]
    if missing:
        raise NotApplied(f"Apply the stack first: no installed environment for {', '.join(missing)}")
    tokens: dict[str, str] = {}
    if loaded.stack.registry:
        tokens["registry-token"] = state.secret("registry_token") or ""
    docs: list[dict[str, Any]] = etcd_manifests(loaded) if loaded.members else []
    for server in order:
        if server != REGISTRY:
            tokens[f"{server}-api-token"] = state.secret(f"{server}.api_token") or ""
        docs += _server(loaded, state, server)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{stack}-tokens", "labels": _labels(stack)},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(tokens.items())},
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stack}.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the Secret
    with os.fdopen(fd, "w") as handle:
        yaml.dump_all([secret, *docs], handle, Dumper=_Plain, sort_keys=False)
    return [path]


class _Plain(yaml.SafeDumper):
    """YAML without anchors and aliases: the labels repeat in full, as people write them."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _labels(stack: str, server: str | None = None) -> dict[str, str]:
    labels = {"app.kubernetes.io/part-of": stack, "app.kubernetes.io/managed-by": "chora-orchestrator"}
    return labels | ({"app.kubernetes.io/name": server} if server else {})


def _server(loaded: LoadedStack, state: StackState, server: str) -> list[dict[str, Any]]:
    stack, rec = loaded.stack.name, state.servers[server]
    spec = loaded.stack.registry if server == REGISTRY else loaded.stack.servers[server]
    assert spec is not None
    name, prefix = f"{stack}-{server}", rec.env_prefix or ""
    secret = f"{stack}-tokens"

    def from_secret(key: str) -> dict[str, Any]:
        return {"secretKeyRef": {"name": secret, "key": key}}

    env: list[dict[str, Any]] = [{"name": f"{prefix}{k.upper()}", "value": _text(v)} for k, v in spec.settings.items()]
    env += [
        {"name": f"{prefix}HOST", "value": "0.0.0.0"},
        {"name": f"{prefix}PORT", "value": str(PORT)},
        {"name": f"{prefix}DATA_DIR", "value": "/data"},
        {"name": f"{prefix}PUBLIC_URL", "value": f"http://{name}:{PORT}"},
    ]
    deps = ([REGISTRY] if loaded.stack.registry and server != REGISTRY else []) + loaded.depends.get(server, [])
    if server == REGISTRY:
        env.append({"name": f"{prefix}API_TOKEN", "valueFrom": from_secret("registry-token")})
    else:
        env.append({"name": f"{prefix}API_TOKEN", "valueFrom": from_secret(f"{server}-api-token")})
    if server == REGISTRY and loaded.members:
        endpoints = ",".join(member_url(stack, i, CLIENT_PORT) for i in range(len(loaded.members)))
        env.append({"name": f"{prefix}BACKEND", "value": "etcd"})
        env.append({"name": f"{prefix}ETCD_ENDPOINTS", "value": endpoints})
    if loaded.stack.registry:
        env.append({"name": f"{prefix}REGISTRY_URL", "value": f"http://{stack}-{REGISTRY}:{PORT}"})
        env.append({"name": f"{prefix}REGISTRY_TOKEN", "valueFrom": from_secret("registry-token")})
    declared = loaded.depends.get(server, []) if server != REGISTRY else []
    env.append({"name": f"{prefix}DEPENDENCIES", "value": ",".join(state.servers[d].dist or d for d in declared)})
    image = getattr(spec, "image", None) or f"{(rec.dist or server).lower()}:latest"
    probe = {"port": PORT}
    container: dict[str, Any] = {
        "name": server,
        "image": image,
        "command": [rec.command or server, "serve"],
        "ports": [{"name": "http", "containerPort": PORT}],
        "env": env,
        "readinessProbe": {"httpGet": {"path": "/ready", **probe}, "periodSeconds": 2, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/health", **probe}, "periodSeconds": 10, "failureThreshold": 3},
        "startupProbe": {
            "httpGet": {"path": "/health", **probe},
            "periodSeconds": 1,
            "failureThreshold": max(1, int(spec.deadline_seconds)),
        },
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    pod: dict[str, Any] = {"containers": [container], "volumes": [{"name": "data", "emptyDir": {}}]}
    if deps:
        urls = [
            member_url(stack, loaded.members.index(d), CLIENT_PORT) + "/health"
            if d in loaded.members
            else f"http://{stack}-{d}:{PORT}/ready"
            for d in deps
        ]
        pod["initContainers"] = [
            {"name": "wait-for-dependencies", "image": image, "command": ["python", "-c", _WAIT, *urls]}
        ]
    labels = _labels(stack, server)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
    }
    return [deployment, service]


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
