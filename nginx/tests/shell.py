"""Run a command from the repository root and assert how it ends; its output shows only on failure."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*cmd, env: dict | None = None, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    """CMD in CWD (the repository root) with ENV added to ours; stdout and stderr together, no stdin."""
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env={**os.environ, **(env or {})},
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.splitlines()[-lines:])


def succeeds(*cmd, **kw) -> str:
    """Runs CMD, asserts it exits 0, returns its output."""
    p = run(*cmd, **kw)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{_tail(p.stdout)}"
    return p.stdout


def fails(*cmd, **kw) -> str:
    """Runs CMD, asserts it exits non-zero (negative controls: the tool can say no), returns its output."""
    p = run(*cmd, **kw)
    assert p.returncode != 0, f"{' '.join(map(str, cmd))} unexpectedly succeeded:\n{_tail(p.stdout)}"
    return p.stdout
