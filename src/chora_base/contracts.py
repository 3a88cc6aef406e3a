"""Regenerate the template's committed generated files from real renderings.

A rendered project generates part of itself from its own operation table, error classes and
settings with `python -m <pkg>.interfaces.contract`: the marked regions of README.md and
AGENTS.md, `docs/usage.md` and the typed client at every tier, plus `openapi.json` and
`docs/operations.md` from Recommended up. Copier renders without running code (no --trust), so
the template carries these as Jinja files made here: render each tier with sentinel answers,
run the project's generator (README.md and AGENTS.md removed first, so they are written whole),
then turn the sentinels back into Jinja expressions.

Run it after changing the example domain, the generators or anything they read:
`python -m chora_base.contracts` (the rendered projects' own drift tests fail until you do).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from chora_base.render import REPO, TIERS, install, render

SENTINELS = {
    "project_name": "sentinel-project-x",
    "project_slug": "sentinel-slug-x",
    "package_name": "sentinel_pkg_x",
    "cli_name": "sentinel-cli-x",
    "description": "Sentinel description x",
}
PKG = "src/{{package_name}}"
# Generated file in a rendered project -> its template file, and the lowest tier that has it.
FILES = {
    "README.md": ("README.md.jinja", 1),
    "AGENTS.md": ("AGENTS.md.jinja", 1),
    "docs/usage.md": ("docs/usage.md.jinja", 1),
    f"src/{SENTINELS['package_name']}/interfaces/client.py": (f"{PKG}/interfaces/client.py.jinja", 1),
    "openapi.json": ("{% if tier_level >= 2 %}openapi.json{% endif %}.jinja", 2),
    "docs/operations.md": ("docs/{% if tier_level >= 2 %}operations.md{% endif %}.jinja", 2),
}


def _to_jinja(text: str, json_file: bool, python_file: bool = False) -> str:
    """Escape the generated text for Jinja, then put the answers back where the sentinels are."""
    text = "{% raw %}" + text + "{% endraw %}"
    if json_file:
        # to_json is json.dumps, as the project's generator writes it (Jinja's tojson would
        # HTML-escape `<`, `&` and `'`, and the drift test would then fail on them).
        for answer in ("project_name", "description"):
            text = text.replace(f'"{SENTINELS[answer]}"', "{% endraw %}{{ " + answer + " | trim | to_json }}{% raw %}")
    if python_file:
        # The client's docstring names the project: escaped as the project's generator escapes
        # it (clientgen._docstring_text), so a name holding quotes or backslashes stays valid.
        escaped = "{{ project_name | replace('\\\\', '\\\\\\\\') | replace('\"', '\\\\\"') }}"
        text = text.replace(SENTINELS["project_name"], "{% endraw %}" + escaped + "{% raw %}")
    text = text.replace(SENTINELS["package_name"].upper(), "{% endraw %}{{ package_name | upper }}{% raw %}")
    for answer, sentinel in SENTINELS.items():
        text = text.replace(sentinel, "{% endraw %}{{ " + answer + " }}{% raw %}")
    return text.replace("{% raw %}{% endraw %}", "")


def render_and_generate(tier: str, work: Path) -> dict[str, str]:
    dest = render(tier, work / tier, vcs_ref=None, **SENTINELS)
    python = install(dest, extras=None)
    for name in ("README.md", "AGENTS.md"):
        (dest / name).unlink(missing_ok=True)
    subprocess.run(
        [str(python), "-m", f"{SENTINELS['package_name']}.interfaces.contract"],
        cwd=dest,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return {name: (dest / name).read_text() for name, (_, lowest) in FILES.items() if TIERS.index(tier) + 1 >= lowest}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outputs = {tier: render_and_generate(tier, Path(tmp)) for tier in TIERS}
    for name, (target, lowest) in FILES.items():
        variants = {
            tier: _to_jinja(outputs[tier][name], name.endswith(".json"), name.endswith(".py"))
            for tier in TIERS
            if name in outputs[tier]
        }
        if lowest == 1:
            text = (
                "{% if tier_level >= 3 %}"
                + variants["advanced"]
                + "{% elif tier_level >= 2 %}"
                + variants["recommended"]
                + "{% else %}"
                + variants["essential"]
                + "{% endif %}"
            )
        else:
            text = (
                "{% if tier_level >= 3 %}"
                + variants["advanced"]
                + "{% else %}"
                + variants["recommended"]
                + "{% endif %}"
            )
        path = REPO / "template" / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
