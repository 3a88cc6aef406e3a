"""Open the built site in headless Chromium (Debian's ``chromium``) over loopback.

Checks that each SAP page shows its headings, that Mermaid diagrams render as SVG from the
locally served script, that the site search finds the registry SAP for "heartbeat", that the
browser console shows no errors and that nothing is fetched from outside the site. Screenshots
of the home page and a SAP page are written to tests/output/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from chora_base.docs.saps import SAPS

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = ("capability-charter", "protocol-spec", "AGENTS", "adoption-blueprint", "ledger")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Material puts each rendered diagram in a closed shadow root; open it so the test can see
# the SVG. This changes nothing else on the page.
OPEN_SHADOW_ROOTS = """
const attach = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attach.call(this, Object.assign({}, init, { mode: "open" }));
};
"""


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Debian's chromium is required for the browser test (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # Playwright starts the system Chromium headless with a fresh profile directory and
        # drives it over the DevTools protocol; no browser is downloaded.
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


class Watched:
    """A page whose console errors and off-site requests are recorded."""

    def __init__(self, browser: Browser, site_url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.add_init_script(OPEN_SHADOW_ROOTS)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.offsite: list[str] = []
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # A request cancelled because the test moved on to the next page is not a failure.
        self.page.on(
            "requestfailed",
            lambda req: req.failure != "net::ERR_ABORTED" and self.errors.append(f"failed: {req.url} ({req.failure})"),
        )
        self.page.on(
            "request", lambda req: not req.url.startswith((site_url, "data:", "blob:")) and self.offsite.append(req.url)
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser: Browser, site_url: str) -> Iterator[Watched]:
    page = Watched(browser, site_url)
    yield page
    page.close()
    assert not page.errors, page.errors
    assert not page.offsite, page.offsite


def source_headings(markdown: str) -> list[str]:
    """Headings (levels 1-3) of a page's Markdown source, as plain text."""
    headings, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = None if fenced else re.match(r"^(#{1,3}) (.+)$", line)
        if match:
            text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", match.group(2))
            headings.append(text.replace("`", "").strip())
    return headings


def mermaid_count(markdown: str) -> int:
    return len(re.findall(r"^```mermaid$", markdown, flags=re.M))


@pytest.mark.parametrize("sap", [s.slug for s in SAPS])
def test_sap_pages_show_headings_and_diagrams(watched: Watched, site_url: str, sap: str) -> None:
    page = watched.page
    for artifact in ARTIFACTS:
        markdown = (REPO / "saps" / sap / f"{artifact}.md").read_text(encoding="utf-8")
        page.goto(f"{site_url}{sap}/{artifact}/", wait_until="load")
        shown = [
            h.replace("¶", "").strip() for h in page.locator("article h1, article h2, article h3").all_inner_texts()
        ]
        for heading in source_headings(markdown):
            assert heading in shown, f"{sap}/{artifact}: heading {heading!r} not shown in {shown}"
        expected = mermaid_count(markdown)
        if expected:
            svgs = page.locator("div.mermaid svg")
            svgs.nth(expected - 1).wait_for(state="attached", timeout=15_000)
            assert svgs.count() == expected, f"{sap}/{artifact}"
            for i in range(expected):
                box = svgs.nth(i).bounding_box()
                assert box and box["width"] > 50 and box["height"] > 50, f"{sap}/{artifact} #{i}"
                assert svgs.nth(i).locator("text, foreignObject").count() > 0


def test_search_finds_registry_for_heartbeat(watched: Watched, site_url: str) -> None:
    page = watched.page
    with page.expect_response(lambda r: r.url.endswith("search/search_index.json")):
        page.goto(site_url, wait_until="load")
    page.locator("label.md-search__icon, .md-search__input").first.click()
    # Material searches on key events, so type like a person instead of filling the field.
    page.locator("input.md-search__input").press_sequentially("heartbeat", delay=30)
    results = page.locator(".md-search-result__item a.md-search-result__link")
    results.first.wait_for(timeout=15_000)
    hrefs = [results.nth(i).get_attribute("href") or "" for i in range(results.count())]
    assert "/registry/" in hrefs[0], hrefs


def test_screenshots(watched: Watched, site_url: str, output_dir: Path) -> None:
    page = watched.page
    page.goto(site_url, wait_until="load")
    page.locator("article h1").wait_for()
    page.screenshot(path=str(output_dir / "home.png"))
    page.screenshot(path=str(output_dir / "home-full.png"), full_page=True)

    page.goto(f"{site_url}registry/protocol-spec/", wait_until="load")
    page.locator("div.mermaid svg").nth(1).wait_for(state="attached", timeout=15_000)
    page.screenshot(path=str(output_dir / "registry-protocol-spec.png"), full_page=True)
    for name in ("home.png", "home-full.png", "registry-protocol-spec.png"):
        assert (output_dir / name).stat().st_size > 10_000, name


def site_pages() -> list[str]:
    pages = ["", "checks/", "running-the-checker/"]
    for sap in SAPS:
        pages += [f"{sap.slug}/", *(f"{sap.slug}/{artifact}/" for artifact in ARTIFACTS)]
    return pages


# Elements of the article wider than the box that shows them (a scroll bar, or content cut off).
OVERFLOWING = """
() => {
  const wide = [];
  for (const el of document.querySelectorAll(
      "article pre > code, article .md-typeset__scrollwrap, article table")) {
    if (el.scrollWidth > el.clientWidth + 1) {
      wide.push(`${el.tagName.toLowerCase()} ${el.scrollWidth}>${el.clientWidth}: ${el.innerText.slice(0, 80)}`);
    }
  }
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1) wide.push(`page ${page.scrollWidth}>${page.clientWidth}`);
  return wide;
}
"""


@pytest.mark.parametrize("width", [1280, 800])
def test_code_blocks_and_tables_fit_the_column(browser: Browser, site_url: str, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        wide = {}
        for path in site_pages():
            page.goto(f"{site_url}{path}", wait_until="load")
            found = page.evaluate(OVERFLOWING)
            if found:
                wide[path] = found
        assert not wide, wide
    finally:
        context.close()


def test_sidebar_sections_open_landing_pages_and_name_their_sap(watched: Watched, site_url: str) -> None:
    page = watched.page
    page.goto(f"{site_url}registry/ledger/", wait_until="load")
    assert page.title().startswith("Registry ledger")
    sidebar = page.locator("nav.md-nav--primary")
    labels = [t.strip() for t in sidebar.locator("a.md-nav__link").all_inner_texts() if t.strip()]
    for artifact in ("charter", "protocol spec", "guide for agents", "adoption blueprint", "ledger"):
        assert f"Registry {artifact}" in labels, labels
    assert len([label for label in labels if label.endswith(" ledger")]) == len(SAPS)
    sidebar.get_by_role("link", name="Registry", exact=True).first.click()
    page.wait_for_url(f"{site_url}registry/")
    assert page.locator("article h1").inner_text().replace("¶", "").strip() == "Registry"
