"""bench/http/load.sh (wrk + mix.lua) against a real zufang instance."""
import json
import random
import re
import secrets
import string
import time
import urllib.request

from helpers import HTTP, assert_results

LOAD = f"{HTTP}/load.sh"


def test_an_unreachable_target_and_an_auth_share_without_a_token_are_refused(bench, app):
    r = bench.expect_rc(1, LOAD, "--quick", "--url", "http://127.0.0.1:1", "--out", bench.work / "hm")
    assert "not usable" in r.stderr, r.stderr
    bench.expect_rc(2, LOAD, "--quick", "--auth-share", "0.5", "--url", app.url)
    bench.no_leftovers()


def test_quick_against_the_real_app_gives_positive_results_and_no_errors(bench, http_quick):
    r, out = http_quick
    assert r.returncode == 0, r.stdout + r.stderr
    doc = assert_results(out, rows=2, tests=("http_mix",))
    for row in doc["results"]:
        s = row["extra"]["status_classes"]
        assert row["errors"] == 0, f"errors at c={row['connections']}: {row['extra']['socket_errors']} {s}"
        assert s["2xx"] > 0, s
    bench.no_leftovers()


def test_a_jwt_from_token_file_goes_on_the_requested_share_and_4xx_count(bench, app):
    # With share 1 and only /api/users/me/ in the mix, a bogus token makes every response a 4xx,
    # counted as errors.
    (bench.work / "token").write_text("not.a.jwt\n")
    out = bench.work / "tok"
    bench.ok(LOAD, "--quick", "--connections", "2", "--warmup", "0", "--url", app.url, "--token-file",
             bench.work / "token", "--auth-share", "1", "--mix", "me=1", "--out", out)
    r = json.loads((out / "results.json").read_text())["results"][0]
    s = r["extra"]["status_classes"]
    assert r["extra"]["authenticated_share"] == 1.0, r["extra"]
    assert s["2xx"] == 0 and s["4xx"] > 0 and r["errors"] >= s["4xx"], (s, r["errors"])


def test_a_failed_login_stops_the_run_with_a_clear_error(bench, app):
    # --user/--password-file log in via POST /api/tokens/ before the sweep; an unknown user (or an
    # app without the auth endpoints) must stop the run, not produce a sweep of 401s.
    (bench.work / "pw").write_text("wrong-password\n")
    out = bench.work / "login"
    r = bench.expect_rc(1, LOAD, "--quick", "--url", app.url, "--user", "nobody-bench", "--password-file",
                        bench.work / "pw", "--out", out)
    assert "login failed" in r.stderr, r.stderr
    assert not out.exists(), "a failed login still created results"
    bench.no_leftovers()


def post(url, body=None):
    req = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status


def sign_up(app, password):
    """A real account: an SMS code (the development "log" sender writes it to the app's log),
    then POST /api/users/. Returns the user name."""
    assert app.log.is_file(), f"app log {app.log} unknown (BENCH_APP_URL given?): cannot read the SMS code"
    tel = "139" + "".join(random.choice(string.digits) for _ in range(8))
    user = "bench_" + "".join(random.choice("abcdefghijkmnpqrstuvwxyz") for _ in range(10))
    post(f"{app.url}/api/mobile-codes/{tel}/")
    code = None
    for _ in range(50):
        for line in app.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if tel in line:
                m = re.search(r'"code"\s*:\s*"?(\d{6})', line) or re.search(r'code[=:]\s*"?(\d{6})', line)
                code = m.group(1) if m else code
        if code:
            break
        time.sleep(0.1)
    assert code, "SMS code not found in the app log"
    status = post(f"{app.url}/api/users/", {"username": user, "password": password, "tel": tel, "code": code})
    assert status in (200, 201), status
    return user


def test_login_via_post_tokens_puts_the_jwt_on_half_the_requests_without_errors(bench, app):
    password = secrets.token_urlsafe(18)
    (bench.work / "user-pw").write_text(password + "\n")
    user = sign_up(app, password)
    out = bench.work / "auth"
    bench.ok(LOAD, "--quick", "--connections", "2", "--warmup", "0", "--url", app.url, "--user", user,
             "--password-file", bench.work / "user-pw", "--auth-share", "0.5", "--out", out)
    doc = json.loads((out / "results.json").read_text())
    assert doc["params"]["authenticated"] == "yes", doc["params"]
    for r in doc["results"]:
        a, s = r["extra"]["authenticated_share"], r["extra"]["status_classes"]
        assert 0.3 < a < 0.7, (r["connections"], a)
        assert r["errors"] == 0 and s["4xx"] == 0 and s["2xx"] > 0, (r["connections"], r["errors"], s)
    bench.no_leftovers()
