"""Last, after every live check: keepalived's check fails for a stopped nginx, and the run's nginx
error log has nothing worse than errors."""
import re
import time

from edge_http import R_STATUS
from shell import fails


def test_check_nginx_sh_stopped_nginx_fails_the_check(live_redirect):
    live_redirect.stop()
    time.sleep(0.5)
    fails("nginx/keepalived/check_nginx.sh", env={"NGINX_PID_FILE": str(live_redirect.pid_file),
                                                  "CHECK_URL": f"http://127.0.0.1:{R_STATUS}/healthz"})


def test_nginx_error_log_has_no_emerg_alert_crit_lines(live_main):
    bad = [line for line in live_main.error_log.read_text().splitlines() if re.search(r"\[(emerg|alert|crit)\]", line)]
    assert not bad, "\n".join(bad)

