"""``seedreg ui`` and ``seedreg report`` in a real browser: Debian's headless Chromium through selenium.

The server is the real ``seedreg ui`` process; the browser's console must stay free of errors
(a CSP violation, a failed load or a script error would show there) and every request must stay
on the server's address (or, for the report, in its file).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest
import ui_browser
import ui_demo
from helpers import invoke

REASON = ui_browser.missing()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"browser tests: {REASON}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> ui_demo.Demo:
    return ui_demo.shared(tmp_path_factory)


@pytest.fixture(scope="module")
def base(demo: ui_demo.Demo):
    with ui_browser.server(demo.db) as url:
        yield url


@pytest.fixture(scope="module")
def driver():
    with ui_browser.browser() as chromium:
        yield chromium


@pytest.fixture
def browser(driver, base: str):
    """The browser, its log emptied; after the test, nothing it loaded left the server and nothing failed."""
    ui_browser.console_errors(driver)
    yield driver
    assert ui_browser.console_errors(driver) == []


def visit(driver, url: str) -> None:
    """Open ``url`` and check the page loaded nothing from anywhere but the server."""
    driver.get(url)
    origin = "{0.scheme}://{0.netloc}/".format(urllib.parse.urlsplit(url))
    assert [u for u in ui_browser.resources(driver) if not u.startswith(origin)] == []


def by_css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def test_filter_through_the_form_then_click_into_a_run(browser, base: str, demo: ui_demo.Demo):
    visit(browser, base + "/")
    [experiment] = by_css(browser, 'input[name="experiment"]')
    experiment.send_keys("sweep")
    by_css(browser, 'input[name="status"][value="completed"]')[0].click()
    by_css(browser, 'input[name="param"]')[-1].send_keys("lr=0.3")
    by_css(browser, "#apply")[0].click()
    wait_for_url(browser, lambda url: "?" in url)  # the click navigates: read the URL once it has
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(browser.current_url).query)
    assert query == {"experiment": ["sweep"], "status": ["completed"], "param": ["lr=0.3"]}  # empty fields left out
    rows = by_css(browser, "#runs tbody tr")
    assert len(rows) == 8 and all("sweep" in row.text and "completed" in row.text for row in rows)
    assert "of 8" in by_css(browser, "#count")[0].text
    link = by_css(browser, "#runs tbody tr td a.id")[0]
    wanted = link.get_attribute("href").rsplit("/", 1)[1]
    link.click()
    wait_for_url(browser, lambda url: "/runs/" in url)
    assert browser.current_url == f"{base}/runs/{wanted}"
    assert wanted in by_css(browser, "h1")[0].text and "lr" in browser.page_source


def wait_for_url(driver, arrived) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: arrived(d.current_url))


def wait_for_text(driver, selector: str, text: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: text in by_css(d, selector)[0].text)


def test_sorting_paging_and_a_total_the_page_asks_for(browser, base: str):
    visit(browser, base + "/?experiment=sweep&tag=&limit=5&sort=started")
    wait_for_text(browser, "#count", "runs 1–5 of 17")  # the script asked the twin for the uncounted total
    by_css(browser, 'th.sortable a[title="sort by duration"]')[0].click()
    assert "sort=-duration" in browser.current_url
    by_css(browser, "#next")[0].click()
    assert "offset=5" in browser.current_url
    wait_for_text(browser, "#count", "runs 6–10 of 17")


def test_the_differences_only_switch_hides_equal_rows(browser, base: str, demo: ui_demo.Demo):
    visit(browser, f"{base}/compare?run={demo.original}&run={demo.different_replay}")
    same = by_css(browser, "#compare-table tr.same")
    differs = by_css(browser, "#compare-table tr.differs")
    assert same and all(row.is_displayed() for row in same + differs)
    by_css(browser, "#differences")[0].click()
    assert not any(row.is_displayed() for row in same) and all(row.is_displayed() for row in differs)
    assert "differences=1" in browser.current_url  # the switched view is a link to share
    assert {row.text.split()[1] for row in differs} >= {"output", "seed"}
    assert "first differing element 300000" in browser.page_source
    strip = by_css(browser, "svg.strip")[0]
    assert strip.size["width"] > 300 and len(by_css(browser, "svg.strip rect.chunk")) == 64
    by_css(browser, "#differences")[0].click()
    assert all(row.is_displayed() for row in same) and "differences" not in browser.current_url


def test_charts_render_with_no_console_error(browser, base: str):
    visit(browser, base + "/seeds")
    charts = by_css(browser, "svg.chart.seeds")
    assert len(charts) >= 4 and all(chart.size["height"] > 100 for chart in charts)
    assert len(by_css(browser, "svg.seeds circle.dot")) >= 20 and by_css(browser, "svg.seeds rect.band")
    visit(browser, base + "/experiments")
    health = by_css(browser, "svg.chart.health")
    assert len(health) == 2 and by_css(browser, "svg.health rect.identical") and by_css(browser, "svg.health rect.different")
    for path in ("/", "/audit"):
        visit(browser, base + path)
    for path, status in (("/runs/abcdef12", 404), ("/?since=never", 400)):
        visit(browser, base + path)  # an error page: the browser notes its status, and nothing else
        assert ui_browser.console_errors(browser) == [
            f"{base}{path} - Failed to load resource: the server responded with a status of {status} "
            f"({'Not Found' if status == 404 else 'Bad Request'})"]
        assert by_css(browser, "#message")[0].text


def test_user_supplied_html_shows_as_text_and_never_runs(browser, base: str, demo: ui_demo.Demo):
    for path in ("/", f"/runs/{demo.xss}", "/experiments", "/seeds", "/?experiment=%3Cscript%3Ewindow.__pwned%3D3%3C/script%3E"):
        visit(browser, base + path)
        assert browser.execute_script("return window.__pwned === undefined"), path
    visit(browser, f"{base}/runs/{demo.xss}")
    assert ui_demo.XSS_NAME in by_css(browser, "p.summary")[0].text
    assert ui_demo.XSS_TAG in by_css(browser, "table.values")[0].text


def test_the_report_opens_from_file_and_loads_nothing(browser, demo: ui_demo.Demo, tmp_path: Path):
    out = tmp_path / "report.html"
    result = invoke("report", "--db", str(demo.db), demo.original, demo.xss, "--experiment", "sweep", "-o", str(out))
    assert result.exit_code == 0, result.output
    browser.get(out.as_uri())
    assert [u for u in ui_browser.resources(browser) if not u.startswith("file://")] == []
    assert browser.execute_script("return window.__pwned === undefined")
    assert len(by_css(browser, "svg.chart.seeds")) == 3 and by_css(browser, "svg.chart.strip")
    head = by_css(browser, "#report-head")[0].text
    assert head.startswith("blake3:") and f"seedreg audit --expect-head {head}" in browser.page_source
    run_link = by_css(browser, f'a[href="#run-{demo.different_replay}"]')[0]
    run_link.click()
    assert browser.current_url.endswith(f"#run-{demo.different_replay}")
    # the inline stylesheet applied (its hash is in the CSP): the header bar is dark
    assert by_css(browser, "header.top")[0].value_of_css_property("background-color") == "rgba(22, 32, 43, 1)"


def test_the_screenshot_script_makes_the_readme_images(demo: ui_demo.Demo, tmp_path: Path):
    import importlib.util

    from helpers import REPO

    spec = importlib.util.spec_from_file_location("screenshots", REPO / "docs" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.main(["--out", str(tmp_path), "--db", str(demo.db)])
    assert sorted(p.name for p in made) == ["runs.png", "seeds.png"]
    for path in made:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
