"""``seedreg report``: one self-contained HTML file (nothing loaded from anywhere, a ``default-src 'none'``
CSP with the inlined assets by hash) holding the selected runs' pages, their replays' divergences, the
seeds view of their groups and the audit state; machine and user details only with ``--full``."""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import re
import socket
from pathlib import Path

import pytest
import ui_demo
from helpers import invoke, seedreg_cli

from seedreg import Registry
from seedreg.ui import report


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> ui_demo.Demo:
    return ui_demo.shared(tmp_path_factory)


def write(demo: ui_demo.Demo, tmp_path: Path, *args: str) -> str:
    out = tmp_path / "report.html"
    result = invoke("report", "--db", str(demo.db), *args, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {out}: ")
    return out.read_text()


def test_the_report_is_self_contained_and_allows_only_its_own_inline_assets(demo: ui_demo.Demo, tmp_path: Path):
    html = write(demo, tmp_path, demo.original, "--experiment", "sweep")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html).group(1)
    csp = csp.replace("&#39;", "'")
    assert csp.startswith("default-src 'none'; ") and "'unsafe-inline'" not in csp
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(styles) == 1 and len(scripts) == 1
    for body, kind in ((styles[0], "style-src"), (scripts[0], "script-src")):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{kind} 'sha256-{digest}'" in csp
    assert html.index("Content-Security-Policy") < html.index("<style>")
    assert not re.search(r"<(link|img|iframe|object|embed)\b", html) and " src=" not in html
    assert "url(" not in styles[0] and "@import" not in styles[0]
    assert not re.search(r'href="(?!#|https?:)', html)  # links lead within the file (or to the web)


def test_the_report_holds_each_run_its_replays_divergences_seeds_and_the_audit(demo: ui_demo.Demo, tmp_path: Path):
    html = write(demo, tmp_path, demo.original[:10], "--experiment", "sweep")
    for run_id in (demo.original, demo.identical_replay, demo.different_replay, *demo.sweep, demo.failed):
        assert f'<section class="run" id="run-{run_id}">' in html, run_id
    assert f'id="run-{demo.flaky[0]}"' not in html  # not selected
    assert "first differing element 300000" in html and '<svg class="chart strip"' in html
    assert "first differing chunk 36 of 64" in html
    assert html.count('<svg class="chart seeds"') == 3  # the training run's group and the sweep's two lr groups
    assert html.count('<span class="param">lr=0.3</span>') == 1
    head = json.loads(invoke("audit", "--db", str(demo.db), "--json").stdout)["head"]
    assert f'<code class="digest" id="report-head">{head}</code>' in html
    assert f"seedreg audit --expect-head {head}" in html
    done = seedreg_cli("audit", "--db", str(demo.db), "--expect-head", head)
    assert done.returncode == 0, done.stdout + done.stderr


def test_machine_and_user_details_are_left_out_unless_full(demo: ui_demo.Demo, tmp_path: Path):
    record = Registry(demo.db, readonly=True).get(demo.original)
    private = [record.cwd, record.executable, str(demo.db), f"(user {getpass.getuser()}", "<th>host</th>",
               f"{socket.gethostname()} (user", "train.py", "<summary>packages</summary>", "RuntimeError: diverged"]
    html = write(demo, tmp_path, demo.original, demo.failed)
    assert not [text for text in private if text in html]
    assert "Left out: what runs recorded of their machine and user" in html and "--full" in html
    full = write(demo, tmp_path, demo.original, demo.failed, "--full")
    assert all(text in full for text in private)
    assert "Left out:" not in full


def test_the_report_escapes_what_users_wrote(demo: ui_demo.Demo, tmp_path: Path):
    html = write(demo, tmp_path, demo.xss)
    assert ui_demo.XSS_NAME not in html and ui_demo.XSS_TAG not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html


@pytest.mark.parametrize("args,message", [
    ((), "name the runs to report"),
    (("abcdef99",), "no run matches 'abcdef99'"),
    (("--experiment", "nothing-like-it"), "experiment 'nothing-like-it' has no original runs"),
])
def test_bad_selections_are_one_line_and_write_nothing(demo: ui_demo.Demo, tmp_path: Path, args, message):
    out = tmp_path / "r.html"
    result = invoke("report", "--db", str(demo.db), *args, "-o", str(out))
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert message in line and not out.exists() and not list(tmp_path.iterdir())


def test_the_report_needs_an_output_file(demo: ui_demo.Demo):
    result = invoke("report", "--db", str(demo.db), demo.original)
    assert result.exit_code == 2 and "--output" in result.stderr


def test_the_report_uses_the_apps_templates(demo: ui_demo.Demo):
    html, summary = report.build(Registry(demo.db, readonly=True), [demo.original])
    assert summary.runs == 3 and summary.replays == 2  # the run and its two replays
    assert '<table class="fields">' in html and '<ul class="divergences">' in html  # parts/run.html
    assert 'href="/' not in html and 'href="#run-' in html
