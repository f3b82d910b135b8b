"""Headless Chromium for the edge suite: a minimal Chrome DevTools Protocol client over one websocket."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager


class CDP:
    """A minimal Chrome DevTools Protocol client over one websocket (websocket-client)."""

    def __init__(self, ws_url):
        import websocket  # from the venv (websocket-client)
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def eval(self, expression):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"page exception: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression, what, timeout=15):
        deadline = time.time() + timeout
        value = None
        while time.time() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what} (last value {value!r})")

    def wait_event(self, method, timeout=20):
        """Wait for an event (also one that arrived while waiting for a call's answer)."""
        deadline = time.time() + timeout
        seen = len(self.events)
        for e in self.events:
            if e["method"] == method:
                return e
        self.ws.settimeout(1)
        try:
            while time.time() < deadline:
                try:
                    msg = json.loads(self.ws.recv())
                except Exception:
                    continue
                if "method" in msg:
                    self.events.append(msg)
                    if msg["method"] == method:
                        return msg
        finally:
            self.ws.settimeout(30)
        raise AssertionError(f"no {method} within {timeout} s (events seen: {len(self.events) - seen})")

    def drain(self, seconds=0.3):
        self.ws.settimeout(seconds)
        try:
            while True:
                msg = json.loads(self.ws.recv())
                if "method" in msg:
                    self.events.append(msg)
        except Exception:
            pass
        finally:
            self.ws.settimeout(30)


def console_problems(events):
    problems = []
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.exceptionThrown":
            problems.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:300])
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            problems.append(f"console.{p.get('type')}: " + json.dumps(p.get("args"))[:300])
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
            ent = p["entry"]
            problems.append(f"log {ent.get('source')}/{ent.get('level')}: {ent.get('text')} {ent.get('url', '')}")
    return problems


@contextmanager
def chromium(devtools_port):
    """Starts headless Chromium with DevTools on 127.0.0.1:DEVTOOLS_PORT; yields a CDP client on its page."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "no chromium binary (nginx/tests/run.sh installs it)"
    profile = tempfile.mkdtemp(prefix="edge-chromium-")
    proc = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
         f"--remote-debugging-port={devtools_port}", "--window-size=1280,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(profile, "chromium.log"), "wb"))
    cdp = None
    try:
        deadline = time.time() + 30
        targets = None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{devtools_port}/json/list", timeout=2) as r:
                    targets = [t for t in json.loads(r.read()) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        assert targets, "chromium DevTools: no page target within 30 s"
        cdp = CDP(targets[0]["webSocketDebuggerUrl"])
        yield cdp
    finally:
        if cdp:
            try:
                cdp.ws.close()
            except Exception:
                pass
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)
