"""The HTML report in a real browser: Debian's Chromium, headless, driven by Playwright
(never a downloaded browser). Every chart rendered (each plotly div has its SVG layers and
its traces drawn), the page logged no error and fetched nothing but itself; a screenshot is
kept (its path printed; a copy in <repo>/.artifacts/, which git ignores)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ledgerlake.analytics import lineage, report
from synthetic_run import make_run

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts"

#: Per plotly div: its SVG layers, the traces the figure holds and the traces drawn.
CHART_STATE = """() => [...document.querySelectorAll('.plotly-graph-div')].map(div => ({
  id: div.id,
  svgs: div.querySelectorAll('svg.main-svg').length,
  gl: div.querySelectorAll('canvas').length,
  traces: (div.data || []).length,
  drawn: div.querySelectorAll('.scatterlayer .trace, .barlayer .trace').length,
  width: div.getBoundingClientRect().width,
}))"""


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    make_run(root / "run", root / "lake")
    report.write_report(root / "run", charts=False)
    lineage.record_run(None, root / "run")  # the lineage slot filled, as a real run's is
    return root / "run" / "report.html"


def test_the_report_renders_every_chart_offline_without_errors(report_file, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/install installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    url = report_file.resolve().as_uri()
    errors: list[str] = []
    fetched: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))

            def route(r):
                if r.request.url == url:
                    return r.continue_()
                fetched.append(r.request.url)
                return r.abort()
            page.route("**/*", route)
            page.on("requestfailed", lambda r: None if r.url in fetched else
                    errors.append(f"request failed: {r.url}"))
            page.goto(url, wait_until="load")
            page.wait_for_function("() => [...document.querySelectorAll('.plotly-graph-div')]"
                                   ".every(d => d._fullLayout)", timeout=30_000)
            charts = page.evaluate(CHART_STATE)
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            title = page.title()
            lineage_text = page.inner_text("#lineage")
        finally:
            browser.close()
    print(f"\nscreenshot of the report: {shot}")
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report.png")
    print(f"copy kept at {ARTIFACTS / 'report.png'}")

    assert errors == []
    assert fetched == [], "the report fetched from elsewhere than its own file"
    html = report_file.read_text()
    assert len(charts) == html.count('class="plotly-graph-div"') == 9
    for chart in charts:
        assert chart["svgs"] >= 1, chart  # plotly's main SVG layers
        assert chart["traces"] >= 1 and chart["drawn"] == chart["traces"], chart
        assert chart["width"] > 600, chart
    assert title.startswith("ledgerlake analysis ")
    assert "Lineage and verification" in lineage_text and "not anchored" in lineage_text
    assert shot.stat().st_size > 50_000
