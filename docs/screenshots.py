"""Make the README's screenshots of ``seedreg ui`` (the runs and seeds pages) with the browser tests' own code.

Run: ``python docs/screenshots.py`` (writes docs/images/runs.png and docs/images/seeds.png). It
builds the tests' demo registry (tests/ui_demo.py) in a temporary folder, or takes ``--db``,
serves it with a real ``seedreg ui`` and photographs the pages in Debian's headless Chromium
(tests/ui_browser.py: selenium with the driver's path given, nothing downloaded).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: (file name, page, height in pixels) of each screenshot.
SHOTS = (("runs.png", "/?sort=-duration&limit=14", 820), ("seeds.png", "/seeds?experiment=sweep&experiment=big-seed&experiment=flaky", 1180))


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "images"), help="folder for the PNG files")
    parser.add_argument("--db", help="photograph this registry instead of a fresh demo registry")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "tests"))
    import ui_browser
    import ui_demo

    reason = ui_browser.missing()
    if reason:
        raise SystemExit(f"cannot take screenshots: {reason}")
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db) if args.db else ui_demo.build(Path(tmp) / "demo", hostile=False).db
        with ui_browser.server(db) as base, ui_browser.browser(width=1280, height=800) as driver:
            made = []
            for name, page, height in SHOTS:
                ui_browser.screenshot(driver, base + page, out / name, height=height)
                made.append(out / name)
    for path in made:
        print(f"wrote {path}")
    return made


if __name__ == "__main__":
    main()
