"""Generated docs cannot drift: regenerate every part and compare with what is committed.

The ``interfaces`` part renders a project, installs it, starts its server and runs every
command in ``src/chora_base/docs/interface_examples.yaml`` (CLI, curl, Python, MCP); the
outputs must equal the committed page. Fix a failure with
``python -m chora_base.docs.generate`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chora_base.docs import generate


@pytest.mark.parametrize("part", list(generate.PARTS))
def test_generated_part_is_current(part: str) -> None:
    files = generate.generate(part)
    assert files, f"{part} generated nothing"
    problems = generate.stale(part, files)
    assert not problems, "\n".join(problems)


def test_interface_examples_cover_every_interface() -> None:
    import yaml

    spec = yaml.safe_load(generate.EXAMPLES_FILE.read_text(encoding="utf-8"))
    for example in spec["examples"]:
        labels = {step["label"].split()[0] for step in example["steps"]}  # "CLI --url", "curl (202 …)"
        assert {"CLI", "curl", "Python", "MCP"} <= labels, example["name"]


# Files outside saps/_generated/ that pages may include: each is executed by a test.
TESTED_INCLUDES = {
    "tests/update/commands.sh": "tests/update/test_update.py",
    "tests/docs/bring-up-by-hand.sh": "tests/docs/test_blueprint_steps.py",
}


def test_every_included_snippet_is_generated_or_tested() -> None:
    """Pages include only generated files, or scripts a test executes (no hand-made file
    under _generated/)."""
    import re

    included = set()
    for page in (generate.REPO / "saps").rglob("*.md"):
        if "_generated" in page.parts:
            continue
        included |= set(re.findall(r'--8<-- "([^"]+)"', page.read_text(encoding="utf-8")))
    owned = set().union(*(generate.owned_files(part) for part in generate.PARTS))
    for path, test in TESTED_INCLUDES.items():
        test_file = generate.REPO / test
        assert test_file.parent == (generate.REPO / path).parent, (path, test)
        assert f'"{Path(path).name}"' in test_file.read_text(encoding="utf-8"), (path, test)
    assert included <= owned | set(TESTED_INCLUDES), sorted(included - owned)
    on_disk = {str(p.relative_to(generate.OUT)) for p in generate.OUT.rglob("*") if p.is_file()}
    assert on_disk == owned, sorted(on_disk ^ owned)
