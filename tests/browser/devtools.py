"""Headless Chromium driven over the DevTools protocol on a pipe (standard library only),
shared by the browser tests: tests/browser/check_page.py (the demo page),
tests/browser/check_report.py (the monthly report) and tests/live/test_console.py (the
console of `workhours run`).

    browser = Chromium("/usr/bin/chromium", "chromium.log")
    page = browser.page(1440, 1000)
    page.navigate("http://127.0.0.1:9898/")
    page.wait_for("document.querySelector('#x')", 30, "the x")
    value = page.evaluate("document.title")
    page.screenshot("page.png")
    browser.close()

Errors raise DevToolsError (an AssertionError, so that pytest reports it as a failure).
"""

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]


class DevToolsError(AssertionError):
    pass


def default_browser():
    return shutil.which("chromium") or "/usr/bin/chromium"


class Chromium:
    """Headless Chromium over the DevTools pipe: commands on fd 3, replies and events on fd 4,
    each message JSON ended by a NUL byte."""

    def __init__(self, binary, log_path):
        self.profile = tempfile.mkdtemp(prefix="workhours-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        self.log = open(log_path, "w")
        # The shell moves the pipe ends to fds 3 and 4, where Chromium looks for them. Bash:
        # dash takes single-digit fds only, and a test process often has more open.
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}',
             binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id = 0
        self.replies = {}
        self.events = []
        self.inbox = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buffer = b""
        while True:
            chunk = os.read(self._from_browser, 65536)
            if not chunk:
                self.inbox.put(None)
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self.inbox.put(json.loads(message))

    def _pump(self, deadline):
        try:
            message = self.inbox.get(timeout=max(0.01, deadline - time.time()))
        except queue.Empty:
            return
        if message is None:
            raise DevToolsError(f"chromium closed the DevTools pipe; see {self.log.name}")
        if "id" in message:
            self.replies[message["id"]] = message
        else:
            self.events.append(message)

    def send(self, method, params=None, session=None, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while self.next_id not in self.replies:
            if time.time() > deadline:
                raise DevToolsError(f"no reply to {method} within {timeout} s")
            self._pump(deadline)
        reply = self.replies.pop(self.next_id)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        return reply["result"]

    def wait_event(self, method, session, timeout=30):
        deadline = time.time() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event["method"] == method and event.get("sessionId") == session:
                    return event
            seen = len(self.events)
            if time.time() > deadline:
                raise DevToolsError(f"no {method} within {timeout} s")
            self._pump(deadline)

    def page(self, width=1440, height=1000, domains=("Page", "Network", "Runtime", "Log")):
        """A new tab, attached, with `domains` enabled and a viewport of width × height."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in domains:
            self.send(f"{domain}.enable", session=session)
        page = Page(self, session, width)
        page.resize(height)
        return page

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except DevToolsError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """One tab of a [`Chromium`]."""

    def __init__(self, browser, session, width):
        self.browser = browser
        self.session = session
        self.width = width

    def send(self, method, params=None, timeout=30):
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def resize(self, height):
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def navigate(self, url, timeout=30):
        """Loads `url` and waits for its load event."""
        seen = len(self.browser.events)
        self.send("Page.navigate", {"url": url})
        deadline = time.time() + timeout
        while True:
            for event in self.browser.events[seen:]:
                if event["method"] == "Page.loadEventFired" and event.get("sessionId") == self.session:
                    return
            seen = len(self.browser.events)
            if time.time() > deadline:
                raise DevToolsError(f"{url} did not load within {timeout} s")
            self.browser._pump(deadline)

    def evaluate(self, expression, timeout=30):
        """The value of a JavaScript expression (awaited when it is a promise)."""
        result = self.send("Runtime.evaluate",
                           {"expression": expression, "returnByValue": True, "awaitPromise": True},
                           timeout=timeout)
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression[:80]!r} failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout, what):
        """Evaluates `expression` until it is truthy; returns its value."""
        deadline = time.time() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.time() > deadline:
                raise DevToolsError(f"{what}: not within {timeout} s (last value {value!r})")
            time.sleep(0.25)

    def events(self, method=None):
        return [e for e in self.browser.events
                if e.get("sessionId") == self.session and (method is None or e["method"] == method)]

    def console_errors(self):
        errors = [e["params"]["entry"]["text"] for e in self.events("Log.entryAdded")
                  if e["params"]["entry"]["level"] == "error"]
        errors += [str(e["params"]["exceptionDetails"]) for e in self.events("Runtime.exceptionThrown")]
        return errors

    def screenshot(self, path):
        """A full-page PNG at `path`; returns (bytes written, page height)."""
        height = self.evaluate("document.documentElement.scrollHeight")
        self.resize(height)
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        png = base64.b64decode(shot["data"])
        with open(path, "wb") as f:
            f.write(png)
        return len(png), height
