"""What the edge suite runs: prefixes rendered from this repository's nginx configuration, a
foreground nginx from one, zufang instances (scripts/ci/app-instance.sh)."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from shell import REPO, run

ARTIFACTS = REPO / "artifacts/edge"


def prefix(work: Path, name: str) -> Path:
    """A copy of the repository's configuration, laid out as the Dockerfile does in /etc/nginx."""
    p = work / name
    p.mkdir()
    shutil.copy(REPO / "nginx/nginx.conf", p)
    for sub in ("conf.d", "snippets", "html"):
        shutil.copytree(REPO / "nginx" / sub, p / sub)
    shutil.copy("/etc/nginx/mime.types", p)
    return p


def entrypoint_env(p: Path, tls: Path) -> dict:
    """The entrypoint's environment for rendering into prefix P with the suite's certificate."""
    return {"NGINX_PREFIX": f"{p}/", "TLS_CERT_FILE": str(tls / "tls.crt"), "TLS_KEY_FILE": str(tls / "tls.key"),
            "TLS_SELF_SIGNED": "never"}


def answers(url: str, timeout: float = 1) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except OSError:
        return False


class Nginx:
    """A foreground nginx from prefix P; its stdout (the JSON access log) and stderr in P."""

    def __init__(self, p: Path, status_port: int):
        self.prefix, self.status_port = p, status_port
        self.access_log, self.error_log = p / "access.log", p / "error.log"
        self.pid_file = p / "run/nginx.pid"
        healthz = f"http://127.0.0.1:{status_port}/healthz"
        assert not answers(healthz), f"port {status_port} is already served by another process (a leftover test nginx?)"
        with open(self.access_log, "wb") as out, open(self.error_log, "wb") as err:
            self.proc = subprocess.Popen(["nginx", "-p", f"{p}/", "-c", f"{p}/nginx.conf", "-e", "stderr",
                                          "-g", "daemon off;"], stdout=out, stderr=err)
        for _ in range(50):
            if self.pid_file.is_file() and self.pid_file.stat().st_size and answers(healthz):
                return
            time.sleep(0.1)
        raise AssertionError(f"nginx from {p} did not start:\n{self.error_log.read_text()[-2000:]}")

    def master_pid(self) -> int:
        return int(self.pid_file.read_text())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def app_instance(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return run("scripts/ci/app-instance.sh", *args, env=env, timeout=900)


def zufang_bin() -> str:
    """The binary the second instance (and the restart) reuse: no second build of a tree that may be
    changing under a developer."""
    return os.environ.get("ZUFANG_BIN") or str(REPO / "target/debug/zufang")
