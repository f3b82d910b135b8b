"""One replica stopped behind the live nginx: a POST to it fails (502) and is never sent to the other,
GETs are retried on the live one; restarted at the same address, it serves again without a reload."""
import time

import pytest

from instances import answers, app_instance, zufang_bin
from edge_http import APP2, APP_UPSTREAMS, get, request

LIVE, DEAD = APP_UPSTREAMS


@pytest.fixture(scope="module")
def edge2_stopped(live_main, both_apps):
    """edge2 stopped; whether it still answers afterwards."""
    app_instance("stop", "edge2")
    return {"answering": answers(f"http://127.0.0.1:{APP2}/healthz", timeout=2)}


@pytest.fixture(scope="module")
def edge2_restarted(edge2_stopped, live_main):
    """edge2 started again (same address, same binary); nginx's master pid before the restart."""
    master_before = live_main.master_pid()
    out = app_instance("start", "edge2", str(APP2), env={"ZUFANG_BIN": zufang_bin()})
    assert out.returncode == 0, f"replica on {APP2} did not restart:\n{out.stdout[-2000:]}"
    return {"master_before": master_before}


def test_replica_stopped(edge2_stopped):
    assert not edge2_stopped["answering"], f"the replica on {APP2} still answers"


def test_retry_post_to_a_dead_replica_fails_502_never_replayed(edge2_stopped):
    seen = []
    for _ in range(6):
        r = request("POST", "/api/estates/", body=b'{"name":"edge-retry-test"}',
                    headers={"Content-Type": "application/json"})
        up = r.h("x-upstream") or ""
        seen.append((r.status, up))
        assert "," not in up, f"POST went to two upstreams: {up} ({r.status})"
        if DEAD in up:
            assert r.status == 502, f"POST to the dead replica answered {r.status}"
            assert r.json()["error"]["code"] == "upstream_unavailable", f"502 body {r.body[:200]!r}"
            return
    raise AssertionError(f"no POST was sent to the dead replica {DEAD}: {seen}")


def test_retry_gets_succeed_retried_from_the_dead_replica_to_the_live_one(edge2_stopped):
    time.sleep(6)  # fail_timeout=5s: the dead replica is eligible again
    seen = []
    for _ in range(6):
        r = get("/api/districts/")
        seen.append((r.status, r.h("x-upstream")))
        assert r.status == 200, f"GET failed with one replica dead: {seen}"
    assert any(up == f"{DEAD}, {LIVE}" for _, up in seen), \
        f"no GET was retried from the dead replica to the live one: {seen}"


def test_recover_a_restarted_replica_serves_again_without_an_nginx_reload(edge2_restarted, note):
    # The restarted replica has the same address: nginx uses it again once fail_timeout (5 s)
    # has passed, without a reload (the next test checks that the master pid did not change).
    start = time.time()
    seen = []
    while time.time() - start < 15:
        r = get("/api/districts/")
        seen.append((round(time.time() - start, 1), r.status, r.h("x-upstream")))
        assert r.status == 200, f"GET failed while the replica came back: {seen[-3:]}"
        if r.h("x-upstream") == DEAD:
            note(f"replica {DEAD} served again {seen[-1][0]} s after its restart")
            return
        time.sleep(0.25)
    raise AssertionError(f"{DEAD} did not serve within 15 s: {seen[-4:]}")


def test_no_nginx_reload_happened_same_master_pid_no_reconfiguration_logged(edge2_restarted, live_main):
    assert live_main.master_pid() == edge2_restarted["master_before"], "nginx's master pid changed"
    assert "reconfiguring" not in live_main.error_log.read_text(), "nginx logged a reconfiguration"
