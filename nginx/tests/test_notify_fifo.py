"""keepalived's transitions reach the state file in the order they happened: keepalived writes them into
one FIFO (vrrp_notify_fifo) and notify-fifo.sh applies them one at a time. First the reader alone, fed
a burst of back-to-back transitions; then the real keepalived, rendered from the template, in two
network namespaces (the node and a peer address that forges one advert) driven through two
transitions a few milliseconds apart, then stopped."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shell import REPO, fails, run, succeeds

READER = REPO / "nginx/keepalived/notify-fifo.sh"
FORGE = REPO / "nginx/tests/vrrp_forge.py"
SELF, PEER, VIP = "10.98.0.11", "10.98.0.12", "10.98.0.100"


def wait_for(what, check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def states_logged(state_dir: Path, node="lb1") -> list[str]:
    log = state_dir / f"{node}.log"
    return [line.split("state=")[1].split()[0] for line in log.read_text().splitlines()] if log.exists() else []


def state_file(state_dir: Path, node="lb1") -> str:
    f = state_dir / f"{node}.state"
    return f.read_text().strip() if f.exists() else ""


def readers_of(fifo: Path) -> list[int]:
    """Pids of the processes whose command line names FIFO (the reader keepalived started)."""
    pids = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and str(fifo).encode() in (p / "cmdline").read_bytes():
                pids.append(int(p.name))
        except OSError:
            pass
    return pids


def test_reader_applies_a_burst_of_transitions_in_order_and_ends_at_stop(work):
    d = work / "fifo-reader"
    d.mkdir()
    fifo = d / "notify.fifo"
    os.mkfifo(fifo)
    env = {**os.environ, "STATE_DIR": str(d / "state"), "TEXTFILE_DIR": str(d / "textfile")}
    reader = subprocess.Popen([str(READER), "lb1", str(fifo)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    # As keepalived writes them: many transitions in one write, the last of a pair wins.
    pairs = ["MASTER", "BACKUP"] * 10 + ["FAULT", "BACKUP", "MASTER", "BACKUP"]
    with open(fifo, "w") as w:
        w.write("".join(f'INSTANCE "VI_EDGE" {s} 250\n' for s in pairs))
        w.flush()
        # notify.sh appends the log line before it writes the state file: wait for both (a wrong
        # order would leave MASTER in the file for good, and this wait would time out).
        wait_for("the burst applied", lambda: len(states_logged(d / "state")) == len(pairs)
                 and state_file(d / "state") == "BACKUP")
        assert states_logged(d / "state") == pairs
        w.write('INSTANCE "VI_EDGE" STOP 250\n')
        w.flush()
        # STOP is keepalived's last event: the reader ends there, though the FIFO is still open.
        out, _ = reader.communicate(timeout=30)
    assert reader.returncode == 0, out
    assert states_logged(d / "state") == pairs + ["STOP"], out
    assert state_file(d / "state") == "STOP"
    assert 'keepalived_vrrp_master{node="lb1",instance="VI_EDGE"} 0' in (d / "textfile/keepalived_lb1.prom").read_text()


def test_reader_refuses_a_path_that_is_not_a_fifo(work):
    out = fails(READER, "lb1", work / "no-such.fifo")
    assert "not a FIFO" in out, out


@pytest.fixture(scope="module")
def node_and_peer():
    """Two namespaces joined by a veth pair: the node (eth0, SELF) and a peer address (PEER)."""
    base = os.environ.get("EDGE_KA_NETNS", f"edge-ka-{os.getpid()}")
    node, peer = f"{base}-f1", f"{base}-f2"
    for ns in (node, peer):
        run("ip", "netns", "del", ns)
        succeeds("ip", "netns", "add", ns)
    try:
        succeeds("ip", "-n", node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1", "netns", peer)
        for ns, dev, addr in ((node, "eth0", SELF), (peer, "eth1", PEER)):
            succeeds("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            succeeds("ip", "-n", ns, "link", "set", dev, "up")
            succeeds("ip", "-n", ns, "link", "set", "lo", "up")
        yield node, peer
    finally:
        for ns in (node, peer):
            run("ip", "netns", "del", ns)


@pytest.fixture(scope="module")
def keepalived_run(node_and_peer, work):
    """keepalived (rendered config, the FIFO and its reader) on the node, alone: it becomes MASTER.
    Then, back to back, a forged advert of higher priority from the peer's address (MASTER -> BACKUP)
    and the link going down (BACKUP -> FAULT); then SIGTERM (STOP). Yields the state folder and what
    was seen at each step."""
    node, peer = node_and_peer
    d = work / "fifo-keepalived"
    (d / "run").mkdir(parents=True)
    fifo = d / "run/notify.fifo"
    env = {"NODE_NAME": "lb1", "STATE": "BACKUP", "PRIORITY": "250", "SELF_IP": SELF, "PEER_IP": PEER,
           "VIP": VIP, "INTERFACE": "eth0", "VRID": "51", "VRRP_MIN_TTL": "255",
           "KEEPALIVED_DIR": str(REPO / "nginx/keepalived"), "NOTIFY_FIFO": str(fifo)}
    conf = d / "keepalived.conf"
    rendered = succeeds("nginx/keepalived/render.sh", env=env)
    # No nginx here: without its check the node is not held in FAULT (the link is what moves it there).
    untracked = re.sub(r"\n *track_script \{\s*chk_nginx\s*\}", "\n", rendered)
    assert untracked != rendered, "the template's track_script block moved; update this test"
    conf.write_text(untracked)
    state = d / "state"
    ka_env = {**os.environ, "STATE_DIR": str(state), "TEXTFILE_DIR": str(d / "textfile")}
    log = open(d / "keepalived.log", "w")
    ka = subprocess.Popen(["ip", "netns", "exec", node, "keepalived", "--dont-fork", "--log-console", "--vrrp",
                           "--use-file", str(conf), "--pid", str(d / "run/keepalived.pid"),
                           "--vrrp_pid", str(d / "run/vrrp.pid")], env=ka_env, stdout=log, stderr=subprocess.STDOUT)
    seen = {}
    try:
        wait_for("lb1 MASTER alone", lambda: state_file(state) == "MASTER")
        seen["fifo_while_running"] = fifo.is_fifo()
        # Two transitions a few milliseconds apart: what one notify process per transition got wrong.
        succeeds("sh", "-c", f'ip netns exec {peer} "{sys.executable}" "{FORGE}" --src {PEER} --dst {SELF} '
                             f'--vip {VIP} --ttl 255 --count 1 && ip -n {node} link set eth0 down')
        wait_for("FAULT logged", lambda: "FAULT" in states_logged(state))
        time.sleep(0.5)  # anything still on its way
        seen["after_pair"] = (states_logged(state), state_file(state))
        ka.terminate()
        ka.wait(timeout=15)
        # The reader ends by itself at STOP (or when keepalived's end closes the FIFO).
        try:
            wait_for("the reader to end", lambda: not readers_of(fifo))
        except AssertionError:
            pass
        seen["readers_left"] = readers_of(fifo)
        seen["after_stop"] = (states_logged(state), state_file(state))
        seen["fifo_after_stop"] = fifo.exists()
        yield seen
    finally:
        if ka.poll() is None:
            ka.kill()
            ka.wait()
        log.close()


def test_keepalived_writes_transitions_into_the_fifo_it_created(keepalived_run):
    assert keepalived_run["fifo_while_running"]


def test_two_transitions_back_to_back_leave_the_later_one_in_the_state_file(keepalived_run):
    logged, final = keepalived_run["after_pair"]
    assert logged[-3:] == ["MASTER", "BACKUP", "FAULT"], logged
    assert final == "FAULT", (final, logged)


def test_keepalived_stopping_records_stop_last_and_removes_the_fifo(keepalived_run):
    logged, final = keepalived_run["after_stop"]
    assert logged[-1] == "STOP" and final == "STOP", logged
    assert not keepalived_run["fifo_after_stop"]
    assert keepalived_run["readers_left"] == [], "the reader outlived keepalived"
