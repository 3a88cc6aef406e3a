"""Blueprint steps run as written: the scripts the pages include are executed here."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from tests.helpers.render import install, render
from tests.registry.harness import example_python, free_port

HERE = Path(__file__).resolve().parent


def test_bring_up_by_hand_registers_and_deregisters(tmp_path: Path) -> None:
    """The bootstrap blueprint's Essential steps (`bring-up-by-hand.sh`): the registry, then a
    server that registers with the registry's token, then both stopped cleanly."""
    server = install(render("essential", tmp_path / "notes-server", vcs_ref=None), extras=None)
    registry = example_python()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MANIFEST_", "NOTES_SERVER_", "VIRTUAL_ENV"))}
    env.update(
        PATH=os.pathsep.join([str(server.parent), str(registry.parent), env.get("PATH", "")]),
        REGISTRY_PORT=str(free_port()),
        SERVER_PORT=str(free_port()),
    )
    # Its own process group, so that whatever it started is stopped even if it fails midway.
    proc = subprocess.Popen(
        ["bash", str(HERE / "bring-up-by-hand.sh")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    # The script's own status is the registry's exit status after SIGTERM; what it shows is the
    # server registering with the token and deregistering on a clean stop.
    assert out.splitlines()[-2:] == ["notes-server is up in the registry", "notes-server has left the registry"], (
        out[-2000:] + err[-3000:]
    )
    assert "Traceback" not in err, err[-3000:]
