"""Regenerate docs/screenshots/selfcheck-cell.png: the self-check cell's output, in a browser.

    python tools/screenshot_selfcheck.py   # needs chromium (apt-get install chromium)

It runs `check_notebook` on examples/buggy-whh-transposed.ipynb (copied as rnn_forward.ipynb, as
a student would have it), wraps the HTML that Jupyter would show in a page styled like a notebook
output area, and has headless Chromium take the screenshot.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.selfcheck import check_notebook  # noqa: E402

EXAMPLE = ROOT / "examples" / "buggy-whh-transposed.ipynb"
TARGET = ROOT / "docs" / "screenshots" / "selfcheck-cell.png"
PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>self-check</title></head>
<body style="margin:0;padding:8px;background:#fff;width:900px">
{body}
</body></html>
"""


def page_html(work: Path) -> str:
    """The self-check output of the buggy example, as a page."""
    notebook = work / "rnn_forward.ipynb"
    shutil.copyfile(EXAMPLE, notebook)
    shown = check_notebook(notebook)
    html = shown._repr_html_().replace(str(notebook), notebook.name)  # the name a student sees
    return PAGE.format(body=html)


def screenshot(page: Path, target: Path, work: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={work / 'profile'}"]  # fmt: skip
    subprocess.run([browser, *flags, f"--screenshot={target}", "--window-size=920,1040",
                    page.as_uri()], check=True, capture_output=True, timeout=120)  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="selfcheck-shot-") as tmp:
        work = Path(tmp)
        page = work / "page.html"
        page.write_text(page_html(work), encoding="utf-8")
        screenshot(page, TARGET, work)
    print(TARGET)


if __name__ == "__main__":
    main()
