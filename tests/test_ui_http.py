"""``seedreg ui`` over HTTP (Starlette's TestClient against the app): the JSON twins are the CLI's ``--json``,
pages answer 404/400/405 in words, and the security of DESIGN §10 holds (Host, token, CSP, escaping,
static files, nothing written)."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import ui_demo
from helpers import invoke

import seedreg
from seedreg import Registry

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx2
    from starlette.testclient import TestClient

from seedreg.ui.app import create_app
from seedreg.ui.security import CSP

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
BASE = "http://127.0.0.1:8765"


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> ui_demo.Demo:
    return ui_demo.shared(tmp_path_factory)


def client(db: Any, base: str = BASE, **options: Any) -> TestClient:
    return TestClient(create_app(Registry(db, readonly=True), **options), base_url=base, follow_redirects=False)


@pytest.fixture
def web(demo: ui_demo.Demo) -> TestClient:
    return client(demo.db)


def cli_json(demo: ui_demo.Demo, *args: str) -> Any:
    result = invoke(*args, "--db", str(demo.db))
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_every_json_twin_is_the_cli_json(web: TestClient, demo: ui_demo.Demo):
    a, b = demo.original, demo.different_replay
    twins = {
        f"/api/runs/{a[:8]}": cli_json(demo, "show", a[:8], "--json"),
        f"/api/compare?run={a}&run={b}&run={demo.identical_replay}": cli_json(
            demo, "diff", a, b, demo.identical_replay, "--json"),
        "/api/experiments": cli_json(demo, "experiments", "--json"),
        "/api/seeds": cli_json(demo, "seeds", "--json"),
        "/api/seeds?experiment=sweep&by=lr&result=acc": cli_json(demo, "seeds", "sweep", "--by", "lr", "--result", "acc",
                                                                 "--json"),
        "/api/seeds?experiment=sweep&vs=lr=0.1&vs=lr=0.3": cli_json(demo, "seeds", "sweep", "--vs", "lr=0.1",
                                                                    "--vs", "lr=0.3", "--json"),
        "/api/audit": cli_json(demo, "audit", "--json"),
    }
    for path, expected in twins.items():
        answer = web.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == expected, path


def test_the_runs_twin_pages_the_list_json(web: TestClient, demo: ui_demo.Demo):
    listed = cli_json(demo, "list", "--json", "--experiment", "sweep", "--param", "lr=0.1", "--sort", "started")
    first = web.get("/api/?experiment=sweep&param=lr=0.1&sort=started&limit=5").json()
    assert (first["total"], first["total_exact"], first["offset"], first["limit"]) == (9, True, 0, 5)
    assert first["runs"] == listed[:5]
    second = web.get("/api/?experiment=sweep&param=lr=0.1&sort=started&limit=5&offset=5").json()
    assert second["runs"] == listed[5:] and second["total"] == 9
    assert web.get("/api").json() == web.get("/api/").json()
    assert web.get("/api/?status=failed").json()["runs"][0]["id"] == demo.failed
    replays = web.get("/api/?replays=true").json()
    assert {r["id"] for r in replays["runs"]} == {demo.identical_replay, demo.different_replay}


def test_the_runs_page_has_the_filters_as_fields_sortable_columns_and_paging(web: TestClient, demo: ui_demo.Demo):
    page = web.get("/?experiment=sweep&status=completed&sort=duration&limit=5").text
    assert 'name="experiment" value="sweep"' in page
    assert 'name="status" value="completed" checked' in page
    assert page.count('<tr class="completed">') == 5
    # not counted yet: the page answers at once and its script asks the twin for the total
    count_url = "/api/?experiment=sweep&amp;status=completed&amp;sort=duration&amp;limit=1"
    assert f'<span id="total" data-count="{count_url}">…</span>' in page
    assert web.get(count_url.replace("&amp;", "&")).json()["total"] == 16
    page = web.get("/?experiment=sweep&status=completed&sort=duration&limit=5").text
    assert "runs 1–5 of\n<span id=\"total\">16</span>" in page  # counted once, kept while the file is unchanged
    assert 'href="/?experiment=sweep&amp;status=completed&amp;limit=5&amp;sort=-duration"' in page  # flips the sort
    assert 'id="next"' in page and "offset=5" in page and 'id="previous"' not in page
    durations = [r["duration"] for r in web.get("/api/?experiment=sweep&sort=duration&limit=500").json()["runs"]]
    assert durations == sorted(durations)


def test_the_total_is_exact_up_to_ten_thousand_then_more_than(registry_path: Path):
    import synthetic

    lines = [synthetic.line(experiment="many" if i < 10_001 else "few") for i in range(10_003)]
    Registry().import_(lines)
    web = client(registry_path)
    many = web.get("/api/?experiment=many").json()
    assert (many["total"], many["total_exact"], len(many["runs"])) == (10_000, False, 20)
    assert '<span id="total">more than 10,000</span>' in web.get("/?experiment=many").text
    assert web.get("/api/?experiment=few").json()["total"] == 2


def test_a_cached_total_follows_new_runs(registry_path: Path):
    import synthetic

    Registry().import_([synthetic.line(experiment="e") for _ in range(25)])
    web = client(registry_path)
    assert web.get("/api/?experiment=e").json()["total"] == 25
    assert web.get("/api/?experiment=e&offset=20").json()["total"] == 25  # the page that holds the last run
    Registry().import_([synthetic.line(experiment="e") for _ in range(5)])
    assert web.get("/api/?experiment=e").json()["total"] == 30


def test_a_run_page_shows_what_show_shows(web: TestClient, demo: ui_demo.Demo):
    page = web.get(f"/runs/{demo.original}").text
    record = Registry(demo.db, readonly=True).get(demo.original)
    for expected in (record.id, "training", "7</span> (given)", "lr", "layers", "stage", "loss", record.rng_digest,
                     str(record.fingerprints["weights"]), "64 × 8192 elements", "kept", record.cwd,
                     f"seedreg --db {demo.db} replay {record.id}", record.environment.digest[:16]):
        assert expected in page, expected
    assert page.count('<span class="verdict identical">') >= 1 and '<span class="verdict different">' in page
    assert f'href="/compare?run={demo.original}&amp;run={demo.different_replay}"' in page
    assert "first differing element 300000" in page and '<svg class="chart strip"' in page
    parent = web.get(f"/runs/{demo.parent[:10]}").text
    assert "children (2)" in parent and all(f'href="/runs/{child}"' in parent for child in demo.children)
    child = web.get(f"/runs/{demo.children[0]}").text
    assert f'href="/runs/{demo.parent}"' in child


def test_compare_marks_a_replays_divergence_in_words_and_as_a_strip(web: TestClient, demo: ui_demo.Demo):
    page = web.get(f"/compare?run={demo.original}&run={demo.different_replay}").text
    assert "replay" in page and "first differing chunk 36 of 64: elements [294912, 303104)" in page
    assert "first differing element 300000" in page and page.count('class="chunk differs"') == 1
    assert page.count('class="chunk identical"') == 63
    assert '<tr class="differs"><th><span class="mark" title="differs">✗</span> output weights</th>' in page
    assert 'class="compare" id="compare-table"' in page
    switched = web.get(f"/compare?run={demo.original}&run={demo.different_replay}&differences=1").text
    assert 'class="compare only-differences"' in switched and 'id="differences" name="differences" value="1" checked' in switched
    data = web.get(f"/api/compare?run={demo.different_replay}&run={demo.original}").json()
    [comparison] = data["comparisons"]
    assert comparison["relation"] == "replay" and comparison["original"] == demo.original
    [weights] = [o for o in comparison["outputs"] if o["name"] == "weights"]
    assert weights["where"]["kind"] == "element" and weights["where"]["element"] == ui_demo.CHANGED_ELEMENT
    assert weights["where"]["chunk"] == 36


def test_unknown_runs_are_404_pages_and_json(web: TestClient):
    page = web.get("/runs/abcdef12")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "no run matches &#39;abcdef12&#39;" in page.text and "Traceback" not in page.text
    twin = web.get("/api/runs/abcdef12")
    assert twin.status_code == 404 and twin.json()["status"] == 404 and "abcdef12" in twin.json()["error"]
    assert web.get("/compare?run=abcdef12&run=abcdef13").status_code == 404
    assert web.get("/no/such/page").status_code == 404 and web.get("/api/no/such").json()["status"] == 404


@pytest.mark.parametrize("query,cli", [
    ("since=yesterday", ["--since", "yesterday"]),
    ("numpy=1.2;drop", ["--numpy", "1.2;drop"]),
    ("param=lr", ["--param", "lr"]),
    ("sort=color", ["--sort", "color"]),
    ("seed=-4", ["--seed", "-4"]),
])
def test_a_bad_filter_is_a_400_page_with_the_cli_message(web: TestClient, demo: ui_demo.Demo, query: str,
                                                         cli: list[str]):
    result = invoke("list", "--db", str(demo.db), *cli)
    assert result.exit_code == 2
    message = result.stderr.strip().removeprefix("Error: ")
    page = web.get(f"/?{query}")
    assert page.status_code == 400 and "Traceback" not in page.text
    assert re.search(r'<p class="message" id="message">(.*)</p>', page.text).group(1) == _escaped(message)
    assert web.get(f"/api/?{query}").json() == {"error": message, "status": 400}


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def test_other_bad_input_is_400_not_a_traceback(web: TestClient):
    for path in ("/?limit=0", "/?limit=many", "/?offset=-1", "/?replays=maybe", "/compare?run=abc",
                 "/seeds?split_code=perhaps", "/seeds?vs=lr=1", "/seeds?sweep=zzz", "/audit?fresh=2"):
        answer = web.get(path)
        assert answer.status_code in (400, 404), (path, answer.status_code)
        assert "Traceback" not in answer.text and 'id="message"' in answer.text


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_no_method_but_get_and_head(web: TestClient, method: str):
    for path in ("/", "/api/", "/runs/abc", "/static/app.css", "/nothing"):
        answer = web.request(method, path)
        assert answer.status_code == 405 and "only reads" in answer.text
    assert web.head("/").status_code == 200


def test_host_header_must_name_the_bound_address_localhost_or_an_allowed_name(demo: ui_demo.Demo):
    web = client(demo.db, hosts=["127.0.0.1", "lab.example"])
    assert web.get("/", headers={"host": "127.0.0.1:8765"}).status_code == 200
    assert web.get("/", headers={"host": "LOCALHOST:8765"}).status_code == 200
    assert web.get("/", headers={"host": "lab.example"}).status_code == 200
    for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "[::1]:8765", ""):
        answer = web.get("/api/", headers={"host": host})
        assert answer.status_code == 403 and "--allow-host" in answer.json()["error"], host


def test_beyond_loopback_a_token_is_required_then_kept_in_a_cookie(demo: ui_demo.Demo):
    web = client(demo.db, "http://localhost:9000", hosts=["0.0.0.0"], token="s3cret-token", port=9000)
    assert web.get("/").status_code == 403 and "needs its token" in web.get("/").text
    assert web.get("/api/runs/x").json()["status"] == 403
    assert web.get("/?token=wrong").status_code == 403
    answer = web.get("/?experiment=sweep&token=s3cret-token")
    assert answer.status_code == 303 and answer.headers["location"] == "/?experiment=sweep"
    assert "seedreg_ui_token_9000=s3cret-token" in answer.headers["set-cookie"]
    assert "HttpOnly" in answer.headers["set-cookie"] and "SameSite=Strict" in answer.headers["set-cookie"]
    assert web.get("/?experiment=sweep").status_code == 200  # the client kept the cookie
    fresh = client(demo.db, "http://localhost:9000", hosts=["0.0.0.0"], token="s3cret-token", port=9000)
    assert fresh.get("/", cookies={"seedreg_ui_token_9000": "other"}).status_code == 403


def test_every_response_carries_the_csp_and_its_companions(web: TestClient, demo: ui_demo.Demo):
    assert "default-src 'self'" in CSP and "'unsafe-inline'" not in CSP
    for path in ("/", "/api/", "/static/app.js", "/runs/zzz", f"/runs/{demo.original}"):
        headers = web.get(path).headers
        assert headers["content-security-policy"] == CSP
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert web.post("/").headers["content-security-policy"] == CSP
    assert web.get("/", headers={"host": "evil"}).headers["content-security-policy"] == CSP


def test_user_supplied_text_is_escaped_everywhere(web: TestClient, demo: ui_demo.Demo):
    raw = (ui_demo.XSS_NAME, ui_demo.XSS_TAG)
    for path in ("/", f"/runs/{demo.xss}", "/experiments", "/seeds", f"/compare?run={demo.xss}&run={demo.original}",
                 "/?experiment=" + ui_demo.XSS_NAME, "/?experiment=%3Cscript%3Ealert(1)%3C/script%3E"):
        page = web.get(path).text
        assert not any(text in page for text in raw) and "<script>alert(1)" not in page, path
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in web.get(f"/runs/{demo.xss}").text
    assert "style=" not in web.get(f"/runs/{demo.original}").text  # no inline style: the CSP allows none


@pytest.mark.parametrize("path", ["/static/../pyproject.toml", "/static/..%2f..%2fpyproject.toml",
                                  "/static/%2e%2e/app.py", "/static/..%5capp.py", "/static/app.css%00",
                                  "/static/", "/static/templates/document.html", "/static//etc/passwd",
                                  "/static/__init__.py"])
def test_static_files_come_only_from_the_apps_assets(web: TestClient, path: str):
    answer = web.get(path)
    assert answer.status_code == 404, path
    assert "[project]" not in answer.text and "import" not in answer.text


def test_the_assets_are_served_from_the_package(web: TestClient):
    from importlib.resources import files

    css = web.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.content == (files("seedreg.ui") / "static" / "app.css").read_bytes()
    assert web.get("/static/app.js").headers["content-type"].startswith("text/javascript")


def test_browsing_every_page_writes_nothing(web: TestClient, demo: ui_demo.Demo):
    before = (hashlib.sha256(demo.db.read_bytes()).hexdigest(), demo.db.stat().st_mtime_ns)
    beside = sorted(p.name for p in demo.db.parent.iterdir())
    assert "registry.db-wal" not in beside
    for path in ("/", "/api/", "/?status=completed&sort=duration", f"/runs/{demo.original}",
                 f"/compare?run={demo.original}&run={demo.different_replay}", "/experiments", "/seeds", "/audit",
                 "/audit?fresh=1", "/api/seeds", "/api/audit"):
        assert web.get(path).status_code == 200, path
    assert (hashlib.sha256(demo.db.read_bytes()).hexdigest(), demo.db.stat().st_mtime_ns) == before
    assert sorted(p.name for p in demo.db.parent.iterdir()) == beside


def test_the_audit_is_cached_by_chain_head(registry_path: Path):
    with seedreg.run("a", seed=1):
        pass
    web = client(registry_path)
    assert "Computed now" in web.get("/audit").text
    assert "From the cache" in web.get("/audit").text
    assert "Computed now" in web.get("/audit?fresh=1").text
    with seedreg.run("a", seed=2):
        pass
    page = web.get("/audit").text
    assert "Computed now" in page and web.get("/api/audit").json()["chain_length"] == 2


def test_experiments_and_seeds_pages_draw_their_charts(web: TestClient, demo: ui_demo.Demo):
    experiments = web.get("/experiments").text
    assert experiments.count('<svg class="chart health"') == 2  # the training row and all experiments
    assert "never replayed" in experiments
    seeds = web.get("/seeds").text
    assert seeds.count('<svg class="chart seeds"') >= 4
    assert "by rank (seeds too large to place by value)" in seeds and "placed by value" in seeds
    assert "same seed, different data" in seeds and "output <span class=\"name\">noise</span>" in seeds
    assert seeds.count('<circle class="dot"') >= 16 + 4
    assert f'href="/compare?run={min(demo.flaky)}&amp;run={max(demo.flaky)}"' in seeds
    assert "1 failed, interrupted or crashed (left out)" in seeds
    one = web.get("/seeds?experiment=sweep&by=lr&result=acc").text
    assert one.count('<div class="group">') == 2


def test_every_page_reads_sqlite_and_postgresql_alike(backend):
    import numpy as np
    from helpers import backend_url

    url = backend_url(backend)
    ids = []
    for seed in range(3):
        with seedreg.run("pg", seed=seed, params={"lr": 0.1}) as run:
            run.log("noise", np.random.rand(4))
            run.log("acc", 0.5 + seed / 10)
        ids.append(run.id)
    web = client(url)
    for path in ("/", f"/runs/{ids[0]}", f"/compare?run={ids[0]}&run={ids[1]}", "/experiments", "/seeds", "/audit"):
        assert web.get(path).status_code == 200, path
    for path, args in ((f"/api/runs/{ids[1]}", ["show", ids[1]]), ("/api/seeds", ["seeds"]),
                       ("/api/experiments", ["experiments"]), ("/api/audit", ["audit"]),
                       (f"/api/compare?run={ids[0]}&run={ids[2]}", ["diff", ids[0], ids[2]])):
        assert web.get(path).json() == json.loads(invoke(*args, "--json").stdout), path
    assert web.get("/api/").json()["runs"] == json.loads(invoke("list", "--json").stdout)
    assert '<svg class="chart seeds"' in web.get("/seeds").text

    from datetime import datetime

    import synthetic

    original, replays = "ab" * 16, ["cd" * 16, "ef" * 16]
    verdicts = [synthetic.verdict(original, replays[0], "identical", created=datetime(2026, 3, 1, 9)),
                synthetic.verdict(original, replays[1], "different", "t" * 32, created=datetime(2026, 3, 4, 23))]
    Registry().import_([synthetic.line(id=original, experiment="replayed", replays=verdicts),
                        *(synthetic.line(id=r, experiment="replayed", replay_of=original) for r in replays)])
    days = [(d.experiment, d.day.isoformat(), d.identical, d.different) for d in Registry(url, readonly=True).replay_history()]
    assert days == [("replayed", "2026-03-01", 1, 0), ("replayed", "2026-03-04", 0, 1)]
    page = web.get("/experiments").text
    assert page.count('<svg class="chart health"') == 2 and "2026-03-04: 1 different" in page


def test_a_real_server_beyond_loopback_warns_and_prints_its_token(demo: ui_demo.Demo):
    import http.client
    import os
    import subprocess
    import sys
    import time

    import ui_browser

    port = ui_browser.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDREG_")}
    process = subprocess.Popen([sys.executable, "-m", "seedreg", "ui", "--db", str(demo.db), "--host", "0.0.0.0",
                                "--port", str(port), "--allow-host", "lab.example"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        warning, started = process.stderr.readline(), process.stderr.readline()
        assert warning.startswith("warning: seedreg ui is bound to 0.0.0.0, beyond this machine")
        token = re.search(r"\?token=([\w-]+)", started).group(1)
        assert f"http://0.0.0.0:{port}/?token={token}" in started and len(token) >= 32

        def get(path: str, host: str, cookie: str = "") -> http.client.HTTPResponse:
            deadline = time.monotonic() + 30
            while True:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    connection.request("GET", path, headers={"Host": host, **({"Cookie": cookie} if cookie else {})})
                    response = connection.getresponse()
                    response.read()
                    return response
                except ConnectionRefusedError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

        assert get("/", f"localhost:{port}").status == 403  # no token
        assert get(f"/?token={token}", f"evil.example:{port}").status == 403  # the Host check comes first
        answer = get(f"/?token={token}", "lab.example")
        assert answer.status == 303 and answer.getheader("location") == "/"
        cookie = answer.getheader("set-cookie").split(";")[0]
        assert get("/", "lab.example", cookie).status == 200
        assert get("/api/", f"localhost:{port}", cookie).status == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
