"""Regenerate the template's committed contract files from a real rendering.

A rendered project (Recommended+) ships `openapi.json` and `docs/operations.md`, produced by its
own `python -m <pkg>.interfaces.contract`. Copier renders without running code (no --trust),
so the template carries them as Jinja files made here: render with sentinel answers, run the
project's generator, then turn the sentinels back into Jinja expressions.

Run it after changing the example domain or the REST/contract plumbing:
`python -m chora_base.contracts` (the rendered projects' own contract tests fail until you do).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from chora_base.render import REPO, install, render

SENTINELS = {
    "project_name": "sentinel-project-x",
    "project_slug": "sentinel-slug-x",
    "package_name": "sentinel_pkg_x",
    "cli_name": "sentinel-cli-x",
    "description": "Sentinel description x",
}
FILES = {"openapi.json": "openapi.json", "docs/operations.md": "docs/operations.md"}


def _to_jinja(text: str, json_file: bool) -> str:
    """Escape the generated text for Jinja, then put the answers back where the sentinels are."""
    text = "{% raw %}" + text + "{% endraw %}"
    if json_file:
        # to_json is json.dumps, as the project's generator writes it (Jinja's tojson would
        # HTML-escape `<`, `&` and `'`, and the drift test would then fail on them).
        for answer in ("project_name", "description"):
            text = text.replace(f'"{SENTINELS[answer]}"', "{% endraw %}{{ " + answer + " | trim | to_json }}{% raw %}")
    for answer, sentinel in SENTINELS.items():
        text = text.replace(sentinel, "{% endraw %}{{ " + answer + " }}{% raw %}")
    return text


def render_and_generate(tier: str, work: Path) -> dict[str, str]:
    dest = render(tier, work / tier, **SENTINELS)
    python = install(dest, extras=None)
    subprocess.run(
        [str(python), "-m", f"{SENTINELS['package_name']}.interfaces.contract"],
        cwd=dest,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return {name: (dest / name).read_text() for name in FILES}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outputs = {tier: render_and_generate(tier, Path(tmp)) for tier in ("recommended", "advanced")}
    for name, target in FILES.items():
        rec = _to_jinja(outputs["recommended"][name], name.endswith(".json"))
        adv = _to_jinja(outputs["advanced"][name], name.endswith(".json"))
        # Only Recommended+ projects carry these: the top-level name renders empty below that.
        top, _, rest = target.partition("/")
        path = REPO / "template" / ("{% if tier_level >= 2 %}" + top + "{% endif %}")
        path = path / rest if rest else path
        path = path.with_name(path.name + ".jinja")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{% if tier_level >= 3 %}" + adv + "{% else %}" + rec + "{% endif %}")
        print(f"wrote {path.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
