"""The report in real headless Chromium (Debian's ``chromium``): it loads from disk with no
console error and no request beyond the file itself, and a screenshot shows a page.

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe`` (file
descriptors 3 and 4, NUL-separated JSON), so no websocket client is needed. A control page
with a console error and a loopback image proves the probe sees what it must catch.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from harness.report import render_run, suite
from harness.run import Synthetic, make_run
from harness.run.synthetic import EVIL

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
DEADLINE_S = 60.0


@pytest.fixture(autouse=True)
def _heal_after_each_test() -> Iterator[None]:
    """No broker is touched here: override the package's stack-healing fixture."""
    yield


@dataclass
class PageLoad:
    """What Chromium saw while loading one page."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class DevTools:
    """A DevTools protocol session over Chromium's debugging pipe."""

    def __init__(self, profile: Path) -> None:
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()

        def wire() -> None:  # in the child: the pipe ends become fds 3 (commands) and 4 (replies)
            high_in = fcntl.fcntl(to_child, fcntl.F_DUPFD, 10)
            high_out = fcntl.fcntl(from_child, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}"],
            preexec_fn=wire,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        reply = self.wait(lambda m, i=self._next_id: m.get("id") == i)
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        return reply.get("result", {})

    def wait(self, matches: Any) -> dict[str, Any]:
        """The first message matching ``matches``; events seen meanwhile are kept."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            for index, message in enumerate(self.events):
                if matches(message):
                    return self.events.pop(index)
            left = deadline - time.monotonic()
            assert left > 0, "Chromium did not answer within the deadline"
            ready, _, _ = select.select([self._read], [], [], left)
            if ready:
                chunk = os.read(self._read, 1 << 16)
                assert chunk, "Chromium closed its debugging pipe"
                self._buffer += chunk
                *complete, self._buffer = self._buffer.split(b"\0")
                self.events += [json.loads(m) for m in complete]

    def load(self, url: str) -> PageLoad:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.session = session
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session)
        self.events.clear()
        self.call("Page.navigate", session, url=url)
        self.wait(lambda m: m.get("method") == "Page.loadEventFired")
        # Everything logged up to the load event is in ``events`` by now; one more round trip
        # flushes anything Chromium queued right behind it.
        self.call("Runtime.evaluate", session, expression="document.readyState")
        return _observed(self.events)

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except AssertionError:
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._read)
        os.close(self._write)


def _observed(events: list[dict[str, Any]]) -> PageLoad:
    seen = PageLoad()
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            seen.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            seen.errors.append(json.dumps(params.get("args")))
        elif method == "Runtime.exceptionThrown":
            seen.errors.append(json.dumps(params.get("exceptionDetails")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            seen.errors.append(params["entry"].get("text", ""))
    return seen


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_run(tmp_path_factory.mktemp("browser"), Synthetic(lose=3, duplicate=2, evil=True))
    return render_run(folder, step_summary=False)


@pytest.fixture
def devtools(tmp_path: Path) -> Iterator[DevTools]:
    session = DevTools(tmp_path / "profile")
    try:
        yield session
    finally:
        session.close()


def test_report_loads_with_no_console_error_and_no_other_request(
    report: Path, devtools: DevTools
) -> None:
    url = report.resolve().as_uri()
    seen = devtools.load(url)
    assert seen.errors == []
    others = [u for u in seen.requests if u != url and not u.startswith("data:")]
    assert others == []
    assert url in seen.requests


def test_suite_page_loads_with_no_console_error_and_no_other_request(
    tmp_path: Path, devtools: DevTools
) -> None:
    suite_dir = tmp_path / "suite"
    report = render_run(
        make_run(suite_dir / "one", Synthetic(lose=3, evil=True)), step_summary=False
    )
    page = suite.write_index(suite_dir, suite.entries_from_folder(suite_dir))
    url = page.resolve().as_uri()
    seen = devtools.load(url)
    assert seen.errors == []
    assert [u for u in seen.requests if u != url and not u.startswith("data:")] == []
    links = devtools.call(
        "Runtime.evaluate",
        devtools.session,
        expression="Array.from(document.links, a => a.href)",
        returnByValue=True,
    )
    assert links["result"]["value"] == [report.resolve().as_uri()]


def test_injected_markup_renders_as_text(report: Path, devtools: DevTools) -> None:
    devtools.load(report.resolve().as_uri())
    result = devtools.call(
        "Runtime.evaluate",
        devtools.session,
        expression="[document.scripts.length, "
        f"document.body.innerText.includes({json.dumps(EVIL)})]",
        returnByValue=True,
    )
    assert result["result"]["value"] == [0, True]


def test_probe_catches_console_errors_and_network_requests(
    tmp_path: Path, devtools: DevTools
) -> None:
    control = tmp_path / "control.html"
    control.write_text(
        '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/missing.png">'
        "<script>console.error('planted')</script></body></html>"
    )
    seen = devtools.load(control.resolve().as_uri())
    assert any("planted" in e for e in seen.errors)
    assert "http://127.0.0.1:9/missing.png" in seen.requests


def test_screenshot_shows_the_report(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'shot-profile'}",
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            report.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2400)
    colors = image.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 50  # text and charts, not a blank page
    block = np.asarray(image.crop((0, 0, 400, 250))).astype(int)
    red = int(((block[..., 0] > 180) & (block[..., 1] < 70) & (block[..., 2] < 80)).sum())
    assert red > 5_000  # the red FAIL block at the top left
