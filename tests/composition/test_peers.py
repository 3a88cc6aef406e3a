"""Peers over the real thing: a caller server reaches a peer server by name through the registry,
each a rendered Recommended project in its own process on loopback."""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.registry.harness import wait_for

if TYPE_CHECKING:
    from tests.composition.conftest import World


def _call(world: World, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, str]:
    """Call the caller's REST API with a fresh request id; the response and that id."""
    rid = uuid.uuid4().hex
    headers = {"X-Request-ID": rid, **kwargs.pop("headers", {})}
    return httpx.request(method, world.caller.url + path, headers=headers, timeout=30, **kwargs), rid


def test_the_caller_registers_its_declared_peers(world: World) -> None:
    (caller,) = [r for r in world.registered(world.caller.name) if r["status"] == "up"]
    assert caller["dependencies"] == [world.peer.name]
    assert all(r["dependencies"] == [] for r in world.registered(world.peer.name))


def test_a_peer_call_through_the_registry_carries_trace_and_request_id(world: World) -> None:
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    response, rid = _call(world, "POST", "/relay/stamps", json={}, headers={"traceparent": traceparent})
    assert response.status_code == 200, response.text
    answer = response.json()["answer"]
    assert answer["op"] == "stamp" and answer["request_id"] == rid
    (seen,) = world.peer_calls(rid)  # recorded once, on the peer, under the caller's ids
    assert seen["trace_id"] == trace_id


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "attempts"),
    [
        # a read is safe to repeat: 1 + PEER_RETRIES attempts reach the peer
        ("read", "GET", "/relay/probe?fail=true", None, 3),
        # a write without an idempotency key is never sent twice
        ("write without key", "POST", "/relay/stamps", {"fail": True}, 1),
        # a write carrying an idempotency key is safe to repeat
        ("write with key", "POST", "/relay/stamps", {"fail": True, "key": "k-1"}, 3),
    ],
)
def test_retries_only_where_safe(world: World, name: str, method: str, path: str, body: Any, attempts: int) -> None:
    response, rid = _call(world, method, path, json=body)
    problem = response.json()
    assert response.status_code == 502, response.text
    # the peer's own problem, typed: its code and retryable kept, its name added
    assert (problem["code"], problem["retryable"], problem["peer"]) == ("unavailable", True, world.peer.name)
    assert len(world.peer_calls(rid)) == attempts, name


@pytest.mark.parametrize(
    ("name", "path", "status", "code", "retryable"),
    [
        ("the peer's not-found keeps its code", "/relay/notes/missing", 502, "note_not_found", False),
        ("input the peer's contract refuses is refused here", "/relay/bad", 422, "validation_error", False),
    ],
)
def test_peer_errors_keep_their_meaning(
    world: World, name: str, path: str, status: int, code: str, retryable: bool
) -> None:
    response, _ = _call(world, "GET", path)
    assert response.status_code == status, response.text
    assert (response.json()["code"], response.json()["retryable"]) == (code, retryable), name


def test_a_peer_killed_mid_call_is_unavailable_and_its_breaker_opens_then_closes(world: World) -> None:
    created = httpx.post(world.peer.url + "/notes", json={"slug": "kept", "title": "Kept"}, timeout=10)
    assert created.status_code in (201, 409), created.text
    assert _call(world, "GET", "/relay/notes/kept")[0].status_code == 200

    # a write in flight when the peer dies: the caller answers unavailable and sends it once
    rid = uuid.uuid4().hex
    answers: list[httpx.Response] = []
    call = threading.Thread(
        target=lambda: answers.append(
            httpx.post(world.caller.url + "/relay/stamps", json={"hold": 30}, headers={"X-Request-ID": rid}, timeout=60)
        )
    )
    call.start()
    wait_for(lambda: world.peer_calls(rid), 20)  # the peer is running it
    world.peer.kill9()
    call.join(60)
    (answer,) = answers
    assert answer.status_code == 503, answer.text
    assert (answer.json()["code"], answer.json()["retryable"]) == ("unavailable", True)
    assert len(world.peer_calls(rid)) == 1

    # the dead instance is still listed up: calls fail fast as unavailable and its circuit opens
    down, _ = _call(world, "GET", "/relay/notes/kept")
    assert down.status_code == 503 and down.json()["code"] == "unavailable", down.text
    breakers = _call(world, "GET", "/relay/breakers")[0].json()["states"]
    assert breakers[world.peer.url] == "open", breakers

    # back on the same address: after the reset period one trial call closes the circuit
    world.peer.start()
    wait_for(lambda: _call(world, "GET", "/relay/notes/kept")[0].status_code == 200, 30)
    breakers = _call(world, "GET", "/relay/breakers")[0].json()["states"]
    assert breakers[world.peer.url] == "closed", breakers


def test_a_slow_call_does_not_hold_up_others_to_the_same_instance(world: World) -> None:
    """Calls to one peer instance run side by side: its breaker is never held for a call."""
    rid = uuid.uuid4().hex
    slow = threading.Thread(
        target=lambda: httpx.post(
            world.caller.url + "/relay/stamps", json={"hold": 4}, headers={"X-Request-ID": rid}, timeout=60
        ),
        daemon=True,
    )
    slow.start()
    wait_for(lambda: world.peer_calls(rid), 20)  # the peer is holding the slow call
    fast, fast_rid = _call(world, "GET", "/relay/probe")
    assert fast.status_code == 200, fast.text
    assert slow.is_alive(), "the read waited for the slow write to finish"
    assert len(world.peer_calls(fast_rid)) == 1
    slow.join(60)
