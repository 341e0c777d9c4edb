"""Open a page in Debian's headless Chromium: dump the DOM after scripts ran, collect console errors, screenshot."""

from __future__ import annotations

import base64
import hashlib
import html as html_module
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]
# Chromium prints page console messages as ``...:INFO:CONSOLE(12)] "message", source: file:///x (12)``
# (level in the tag), and blocked resources / CSP violations the same way.
_CONSOLE = re.compile(r":(INFO|WARNING|ERROR|VERBOSE\d*):CONSOLE[^\]]*\] (.*)")


@dataclass
class PageResult:
    dom: str
    console: list[str]
    """Every console line the page produced (errors, warnings, logs)."""
    stderr: str


def console_lines(stderr: str) -> list[str]:
    return [match.group(0) for match in map(_CONSOLE.search, stderr.splitlines()) if match]


def open_page(page: Path, *, screenshot: Path | None = None, size: str = "1280,3000", timeout: int = 60) -> PageResult:
    """Load ``page`` with network features off; ``--dump-dom`` returns the DOM after the scripts ran."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="ratchet-chromium-") as profile:
        action = [f"--screenshot={screenshot}", f"--window-size={size}"] if screenshot else ["--dump-dom"]
        done = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *action, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return PageResult(dom=done.stdout, console=console_lines(done.stderr), stderr=done.stderr)


class _Tables(HTMLParser):
    """Collect the text of every cell of the table with a given id, row by row (plus cell attributes)."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.depth = table_id, 0
        self.rows: list[list[str]] = []
        self.attrs: list[list[dict[str, str | None]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
            self.attrs.append([])
        elif self.depth and tag in ("td", "th"):
            self._cell = []
            self.attrs[-1].append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag == "table":
            self.depth -= 1
        elif self.depth and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str, table_id: str) -> tuple[list[list[str]], list[list[dict[str, str | None]]]]:
    """(cell texts, cell attributes) per row of ``<table id=table_id>``; empty when the table is absent."""
    parser = _Tables(table_id)
    parser.feed(html)
    return parser.rows, parser.attrs


def probe_page(
    page: Path, script: str, *, fragment: str = "", size: str = "1280,900", budget_ms: int = 5000, timeout: int = 60
) -> tuple[dict, list[str]]:
    """Run ``script`` in a copy of ``page`` opened at ``#fragment``; returns (what it reported, console lines).

    The report's Content-Security-Policy allows scripts by hash only, so the copy adds the probe's
    hash to it: the page itself is unchanged. The probe reports by putting JSON into
    ``<pre id="probe">``; ``--virtual-time-budget`` lets its timers run before the DOM is dumped.
    """
    assert CHROMIUM is not None
    html = page.read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    html, allowed = re.subn(r"script-src ", f"script-src 'sha256-{digest}' ", html, count=1)
    assert allowed == 1, "no script-src in the page's policy"
    html = html.replace("</body>", f"<script>{script}</script></body>", 1)
    with tempfile.TemporaryDirectory(prefix="ratchet-probe-") as folder:
        copy = Path(folder) / page.name
        copy.write_text(html, encoding="utf-8")
        url = copy.resolve().as_uri() + (f"#{fragment}" if fragment else "")
        done = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={folder}/profile", f"--window-size={size}",
             f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe reported nothing; console: {console_lines(done.stderr)}"
    return json.loads(html_module.unescape(found.group(1))), console_lines(done.stderr)
