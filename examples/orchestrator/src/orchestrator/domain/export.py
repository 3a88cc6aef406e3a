"""The same stack as systemd units: same commands, environment, ordering and health gates.

Each server becomes ``<stack>-<server>.service``. ``Requires=``/``After=`` carry the
dependency order (the registry first); ``ExecStartPost=`` polls the server's ``/ready``, so
systemd counts a unit started only once it is ready, and its dependents wait for that, as
apply's health gate does. ``Restart=on-failure`` with a start limit is the supervision.
The environment, tokens included, goes to ``<unit>.env`` files with mode 0600. Everything is
written under the stack's state folder (``export/systemd/``), so ``reset`` removes it too.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from . import etcd
from .errors import NotApplied
from .stackfile import REGISTRY, LoadedStack
from .state import StackState

_WAIT_READY = """\
# Exit 0 once <url> answers 200, 1 after <seconds>: the unit's health gate.
import sys
import time
import urllib.request

end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        if urllib.request.urlopen(sys.argv[1], timeout=1).status == 200:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.1)
sys.exit(1)
"""


def systemd_units(
    loaded: LoadedStack,
    state: StackState,
    order: list[str],
    env: dict[str, dict[str, str]],
    argv: dict[str, list[str]],
    out: Path,
) -> list[Path]:
    name = loaded.stack.name
    missing = [s for s in order if s not in state.servers or not state.servers[s].command]
    missing += [s for s in order if s not in missing and s not in loaded.members and not state.venv(s).is_dir()]
    if missing:
        raise NotApplied(f"Apply the stack first: no installed environment for {', '.join(missing)}")
    out.mkdir(parents=True, exist_ok=True)
    waiter = out / "wait-ready.py"
    waiter.write_text(_WAIT_READY)
    written: list[Path] = []
    for server in order:
        rec = state.servers[server]
        member = server in loaded.members
        deadline = etcd.spec(loaded).deadline_seconds if member else _deadline(loaded, server)
        unit = f"{name}-{server}"
        phase2 = member or server == REGISTRY
        deps = ([REGISTRY] if loaded.stack.registry and not phase2 else []) + loaded.depends.get(server, [])
        needs = " ".join(f"{name}-{d}.service" for d in deps)
        env_file = out / f"{unit}.env"
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(env[server].items())))
        check = f"http://127.0.0.1:{rec.port}/{'health' if member else 'ready'}"
        wait = f"{sys.executable} {waiter} {check} {deadline:g}"
        lines = [
            "[Unit]",
            f"Description={server} of stack {name} (chora-base orchestrator export)",
            *([f"Requires={needs}", f"After={needs}"] if needs else []),
            "StartLimitIntervalSec=60",
            "StartLimitBurst=5",
            "",
            "[Service]",
            "Type=exec",
            f"EnvironmentFile={env_file}",
            f"WorkingDirectory={state.data(server)}",
            f"ExecStart={shlex.join(argv[server])}",
            f"ExecStartPost={wait}",
            f"TimeoutStartSec={deadline:g}",
            "KillSignal=SIGTERM",
            "Restart=on-failure",
            "RestartSec=1",
            "",
            "[Install]",
            f"WantedBy={name}.target",
            "",
        ]
        path = out / f"{unit}.service"
        path.write_text("\n".join(lines))
        written.append(path)
    target = out / f"{name}.target"
    wants = " ".join(p.name for p in written)
    target.write_text(
        f"[Unit]\nDescription=Stack {name} (chora-base orchestrator export)\nWants={wants}\nAfter={wants}\n\n"
        "[Install]\nWantedBy=default.target\n"
    )
    return [*written, target, waiter]


def _deadline(loaded: LoadedStack, server: str) -> float:
    spec = loaded.stack.registry if server == REGISTRY else loaded.stack.servers[server]
    assert spec is not None
    return spec.deadline_seconds
