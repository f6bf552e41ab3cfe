"""Each report in a real browser: headless Chromium (Debian's package) renders it without a console
error, a screenshot is taken of each page and of its print on A4, and axe-core (from npm, installed
in ``tests/js`` by ``.ci/run``) finds no serious or critical accessibility violation.

Playwright (from PyPI) drives the system's Chromium (``executable_path``); it never downloads a
browser. Off CI, a machine without Chromium or the npm install skips these tests and says how to
get them; in CI (``CI`` set) nothing is skipped: a missing browser fails.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from coprod.report.render import ReportKind, render
from fakes import report_data as rd

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_FLAGS = [
    # As the machine notes say Chromium needs here: as root without a sandbox, and without the
    # background connections a closed network refuses.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI; .ci/run installs it")
    pytest.skip(
        f"{what} is missing (bash .ci/run installs it: apt-get install chromium; npm ci --prefix tests/js)"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    chromium = _chromium()
    if chromium is None:
        _missing("Chromium")
    if not AXE.is_file():
        _missing("axe-core")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


PAGES = {
    "demo-staff": (rd.demo, ReportKind()),
    "demo-share": (rd.demo, ReportKind(share=True)),
    "demo-easy-read": (rd.demo, ReportKind(easy_read=True)),
    "empty-project-staff": (lambda: rd.check(rd.empty_project()), ReportKind()),
    "leak-share": (lambda: rd.check(rd.leak_dataset(), rd.leak_counts()), ReportKind(share=True)),
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_report_renders_in_chromium_with_no_console_error_and_no_serious_accessibility_violation(
    browser, name, tmp_path
) -> None:
    make, kind = PAGES[name]
    path = tmp_path / f"{name}.html"
    path.write_text(render(rd.facts(make()), kind), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1024, "height": 900})  # type: ignore[attr-defined]
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")

    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert page.evaluate("document.body.scrollHeight") > 600

    # The print on A4: one PDF of all its pages (Chromium lays them out with the print style sheet).
    pdf = page.pdf(format="A4", print_background=True)
    (tmp_path / f"{name}.pdf").write_bytes(pdf)
    boxes = re.findall(rb"/MediaBox\s*\[([^\]]*)\]", pdf)
    assert boxes and all([round(float(v)) for v in box.split()] == [0, 0, 596, 843] for box in boxes)  # A4

    if kind.easy_read:
        # Easy Read: large type, at least 14 pt (18.67 CSS pixels) for every word on the page.
        smallest = page.evaluate(
            """() => Math.min(...[...document.querySelectorAll('h1, h2, p, li, dt, dd')]
                                  .map(e => parseFloat(getComputedStyle(e).fontSize)))"""
        )
        assert smallest >= 14 * 96 / 72 - 0.01

    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document);
            return {passes: r.passes.length,
                    violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))};
        }"""
    )
    assert result["passes"] >= 10  # axe really ran its rules on the page
    serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    page.close()
    assert requests == [path.as_uri()], "the page fetched something besides itself"
    assert problems == []
    assert serious == [], serious
