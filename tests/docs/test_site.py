"""The built site: every SAP has its five artifacts, every check ID is an anchor where the
checker's links point, and the generated snippets are the ones pages include."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from chora_base.checker.catalog import all_checks
from chora_base.docs.saps import SAPS, TIERS

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = ("capability-charter", "protocol-spec", "AGENTS", "adoption-blueprint", "ledger")


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)


def html_ids(path: Path) -> set[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.ids


def mkdocs_config() -> dict:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
    return yaml.load((REPO / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)


def test_every_sap_has_five_artifacts_built(built_site: Path) -> None:
    for sap in SAPS:
        for artifact in ARTIFACTS:
            assert (REPO / "saps" / sap.slug / f"{artifact}.md").is_file(), (sap.slug, artifact)
            assert (built_site / sap.slug / artifact / "index.html").is_file(), (sap.slug, artifact)


def test_blueprints_have_three_tiers_each_ending_in_a_checklist() -> None:
    for sap in SAPS:
        text = (REPO / "saps" / sap.slug / "adoption-blueprint.md").read_text(encoding="utf-8")
        headings = re.findall(r"^## (\w+)", text, flags=re.M)
        assert headings == [t.capitalize() for t in TIERS], (sap.slug, headings)
        sections = re.split(r"^## ", text, flags=re.M)[1:]
        for tier, section in zip(TIERS, sections, strict=True):
            include = f'--8<-- "dod/{sap.slug}-{tier}.md"'
            assert include in section, (sap.slug, tier)
            assert f"### Definition of done: {tier.capitalize()}" in section, (sap.slug, tier)
            # The checklist ends the tier, and has items: generated check IDs or by-hand ones.
            checklist = section.split("### Definition of done", 1)[1]
            assert "\n## " not in checklist and "\n### " not in checklist
            generated = REPO / "saps" / "_generated" / "dod" / f"{sap.slug}-{tier}.md"
            assert "- [ ] " in generated.read_text(encoding="utf-8") + checklist, (sap.slug, tier)


def test_every_check_id_is_an_anchor_where_its_url_points(built_site: Path) -> None:
    site_url = mkdocs_config()["site_url"]
    checks = all_checks()
    assert checks
    for check in checks:
        assert check.url.startswith(site_url), (check.url, site_url)
        target = urlparse(check.url)
        page = built_site / target.path[len(urlparse(site_url).path) :] / "index.html"
        assert page.is_file(), check.url
        assert target.fragment == check.id.lower()
        assert target.fragment in html_ids(page), f"{check.id}: no anchor in {page}"


def test_check_list_page_lists_every_check(built_site: Path) -> None:
    html = (built_site / "checks" / "index.html").read_text(encoding="utf-8")
    for check in all_checks():
        assert f"adoption-blueprint/#{check.id.lower()}" in html, check.id


def test_ledgers_include_generated_adoption_tables() -> None:
    for sap in SAPS:
        text = (REPO / "saps" / sap.slug / "ledger.md").read_text(encoding="utf-8")
        assert f'--8<-- "adoption/{sap.slug}.md"' in text
        assert "## Version history" in text


def test_unimplemented_saps_say_so() -> None:
    for sap in SAPS:
        if not sap.status.startswith("not implemented"):
            continue
        for artifact in ("capability-charter", "adoption-blueprint"):
            text = (REPO / "saps" / sap.slug / f"{artifact}.md").read_text(encoding="utf-8")
            assert "Not implemented" in text, (sap.slug, artifact)


def test_mermaid_is_served_locally(built_site: Path) -> None:
    assert (built_site / "assets" / "vendor" / "mermaid" / "mermaid.min.js").stat().st_size > 1e6
    assert "MIT" in (REPO / "saps" / "assets" / "vendor" / "mermaid" / "LICENSE").read_text()
    index = (built_site / "index.html").read_text(encoding="utf-8")
    assert "assets/vendor/mermaid/mermaid.min.js" in index
    assert "fonts.googleapis.com" not in index


def test_a_broken_internal_link_fails_the_strict_build(tmp_path: Path) -> None:
    """Internal links and anchors are validated: the strict build refuses a dangling one."""
    import os
    import shutil
    import subprocess
    import sys

    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(REPO / "saps", tmp_path / "saps")
    for page in (REPO / "saps").rglob("*.md"):  # scripts included by repository path
        for rel in re.findall(r'--8<-- "([^"]+)"', page.read_text(encoding="utf-8")):
            if (REPO / rel).is_file():
                (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(REPO / rel, tmp_path / rel)
    page = tmp_path / "saps" / "registry" / "AGENTS.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nSee [the charter](capability-charter.md#no-such-section).\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "out")],
        cwd=tmp_path,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "no-such-section" in proc.stdout + proc.stderr


ARTIFACT_LABELS = {
    "capability-charter": "charter",
    "protocol-spec": "protocol spec",
    "AGENTS": "guide for agents",
    "adoption-blueprint": "adoption blueprint",
    "ledger": "ledger",
}


def _title(page: Path) -> str:
    return re.search(r"<title>(.*?)</title>", page.read_text(encoding="utf-8"), flags=re.S).group(1)


def test_nav_and_titles_name_the_sap_of_every_page(built_site: Path) -> None:
    """Six SAPs with the same five artifacts: every label, and so every page title, says which
    SAP it belongs to, and no two pages share a label."""
    sections = {
        next(iter(item)): next(iter(item.values())) for item in mkdocs_config()["nav"] if isinstance(item, dict)
    }
    labels: list[str] = []
    for sap in SAPS:
        entries = sections[sap.title]
        assert entries[0] == f"{sap.slug}/index.md", sap.slug  # the section opens its landing page
        short = next(iter(entries[1])).rsplit(" charter", 1)[0]
        assert short.lower() in sap.title.lower(), (short, sap.title)
        # The five artifacts first; a SAP may add pages of its own after them.
        artifacts = entries[1 : 1 + len(ARTIFACT_LABELS)]
        for entry, (artifact, label) in zip(artifacts, ARTIFACT_LABELS.items(), strict=True):
            ((shown, path),) = entry.items()
            assert (shown, path) == (f"{short} {label}", f"{sap.slug}/{artifact}.md")
            assert _title(built_site / sap.slug / artifact / "index.html").startswith(f"{shown} - ")
            labels.append(shown)
        assert _title(built_site / sap.slug / "index.html").startswith(f"{sap.title} - ")
    assert len(labels) == len(set(labels))


def test_every_sap_has_a_landing_page_linking_its_artifacts(built_site: Path) -> None:
    for sap in SAPS:
        source = (REPO / "saps" / sap.slug / "index.md").read_text(encoding="utf-8")
        assert source.startswith(f"# {sap.title}\n"), sap.slug
        html = (built_site / sap.slug / "index.html").read_text(encoding="utf-8")
        article = html.split("<article", 1)[1].split("</article>", 1)[0]
        for artifact in ARTIFACT_LABELS:
            assert f'href="{artifact}/"' in article, (sap.slug, artifact)
        assert f'href="../checks/#{sap.slug}"' in article, sap.slug
        assert f'id="{sap.slug}"' in (built_site / "checks" / "index.html").read_text(encoding="utf-8")


def test_running_the_checker_page_covers_install_ci_hook_and_ignores(built_site: Path) -> None:
    text = (REPO / "saps" / "running-the-checker.md").read_text(encoding="utf-8")
    for needed in (
        "uvx --from",
        "pipx run",
        "pipx install",
        "GITHUB_STEP_SUMMARY",
        "id: chora-base-check",
        "[tool.chora-base.ignore]",
        "_src_path",
        "_commit",
        "VIRTUAL_ENV",
        "--select",
    ):
        assert needed in text, needed
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert "chora-base-check" in {h["id"] for h in hooks}  # the hook the page tells people to use
    assert (built_site / "running-the-checker" / "index.html").is_file()


# By-hand definition-of-done items whose subject a check covers, and the check they must cite.
CHECKED_SUBJECTS = [
    ("under `/v1`", "id008"),
    ("a count and a latency series", "id010"),
    ("without a token get `unauthorized`", "id009"),
    ("No peer address appears", "rg001"),
    ("`chora-base check` passes", "tp006"),
    ("registry URL and token are set", "rg002"),
]


def _by_hand_items() -> list[str]:
    items = []
    for sap in SAPS:
        text = (REPO / "saps" / sap.slug / "adoption-blueprint.md").read_text(encoding="utf-8")
        items += re.findall(r"^- \[ \] \*\(by hand\)\*.*(?:\n  .*)*", text, flags=re.M)
    return items


@pytest.mark.parametrize(("subject", "check_id"), CHECKED_SUBJECTS)
def test_by_hand_items_cite_the_check_that_covers_them(subject: str, check_id: str) -> None:
    items = [item for item in _by_hand_items() if subject in item]
    assert items, subject
    for item in items:
        assert f"#{check_id})" in item, item
