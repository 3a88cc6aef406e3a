"""The etcd registry's members as Kubernetes objects: a StatefulSet and its headless Service.

A StatefulSet gives each member a stable name (``<stack>-etcd-0`` ...) and, through the
headless Service, a stable DNS name (``<stack>-etcd-0.<stack>-etcd``); those names make up
the static ``--initial-cluster`` every member is started with, as the local run does with its
loopback peer URLs. Members start in parallel (``podManagementPolicy: Parallel``): a member of
three waits for a quorum before it serves, so starting them one after another would stall on
the first. The Service publishes members that are not ready yet, so peers find each other
before the cluster has a leader.

Probes follow etcd's own health endpoint: readiness is ``/health`` (the member serves and the
cluster has a leader); liveness and start-up use ``/health?serializable=true``, answered from
the member's own state, so losing quorum takes members out of rotation without restarting
them all.
"""

from __future__ import annotations

from typing import Any

from .models import EtcdSpec
from .stackfile import LoadedStack

CLIENT_PORT = 2379
PEER_PORT = 2380
#: an etcd image whose program is on PATH (override with ``registry.etcd.image``)
IMAGE = "quay.io/coreos/etcd:v3.5.17"


def _name(stack: str) -> str:
    return f"{stack}-etcd"


def member_url(stack: str, index: int, port: int) -> str:
    return f"http://{_name(stack)}-{index}.{_name(stack)}:{port}"


def etcd_manifests(loaded: LoadedStack) -> list[dict[str, Any]]:
    stack = loaded.stack.name
    registry = loaded.stack.registry
    spec = (registry.etcd if registry else None) or EtcdSpec()
    count = len(loaded.members)
    name = _name(stack)
    labels = {
        "app.kubernetes.io/part-of": stack,
        "app.kubernetes.io/managed-by": "chora-orchestrator",
        "app.kubernetes.io/name": "etcd",
    }
    cluster = ",".join(f"{name}-{i}={member_url(stack, i, PEER_PORT)}" for i in range(count))
    me = f"http://$(POD_NAME).{name}"  # Kubernetes expands $(POD_NAME) from the env below
    command = [
        "etcd",
        "--name=$(POD_NAME)",
        "--data-dir=/var/lib/etcd",
        f"--listen-client-urls=http://0.0.0.0:{CLIENT_PORT}",
        f"--advertise-client-urls={me}:{CLIENT_PORT}",
        f"--listen-peer-urls=http://0.0.0.0:{PEER_PORT}",
        f"--initial-advertise-peer-urls={me}:{PEER_PORT}",
        f"--initial-cluster={cluster}",
        "--initial-cluster-state=new",
        f"--initial-cluster-token={stack}-registry",
    ]
    local = {"httpGet": {"path": "/health?serializable=true", "port": CLIENT_PORT}}
    container = {
        "name": "etcd",
        "image": spec.image or IMAGE,
        "command": command,
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [
            {"name": "client", "containerPort": CLIENT_PORT},
            {"name": "peer", "containerPort": PEER_PORT},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/health", "port": CLIENT_PORT},
            "periodSeconds": 2,
            "failureThreshold": 3,
        },
        "livenessProbe": {**local, "periodSeconds": 10, "failureThreshold": 6},
        "startupProbe": {**local, "periodSeconds": 1, "failureThreshold": max(1, int(spec.deadline_seconds))},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/etcd"}],
    }
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "serviceName": name,
            "replicas": count,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": labels,
            "ports": [
                {"name": "client", "port": CLIENT_PORT, "targetPort": "client"},
                {"name": "peer", "port": PEER_PORT, "targetPort": "peer"},
            ],
        },
    }
    return [service, statefulset]
