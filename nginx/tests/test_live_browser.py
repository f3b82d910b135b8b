"""Headless Chromium drives the static site through the live nginx and the two app instances: what the
page shows must equal the API's own answers, with no console errors or CSP violations. The tests
follow one visit in order (the filter works on the district the drill-down chose)."""
import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request

import pytest

from instances import ARTIFACTS
from devtools import chromium, console_problems
from edge_http import DEVTOOLS, HTTP, api_json, pick_route, rows

SCREENSHOT = str(ARTIFACTS / "frontpage.png")
STATE = {}  # the route the drill-down chose: prov, city, dist, estates


@pytest.fixture(scope="module")
def cdp(live_main, both_apps):
    with chromium(DEVTOOLS) as cdp:
        for domain in ("Page", "Runtime", "Log"):
            cdp.call(f"{domain}.enable")
        cdp.call("Page.addScriptToEvaluateOnNewDocument", source=(
            "window.__csp = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"))
        yield cdp


def test_browser_page_loads_through_the_edge_province_list_equals_api(cdp):
    cdp.events.clear()
    cdp.call("Page.navigate", url=f"http://127.0.0.1:{HTTP}/")
    cdp.wait_event("Page.loadEventFired")
    want = [p["name"] for p in rows(api_json("/api/districts/"))]
    got = cdp.wait_for("(() => { const b = [...document.querySelectorAll('#provinces button')];"
                       " return b.length ? b.map(x => x.textContent) : null; })()", "province list")
    assert got == want, f"page shows {got[:5]}..., API says {want[:5]}..."


def test_browser_page_opens_with_the_first_estates_page_and_the_hot_cities_equal_api(cdp):
    # Nothing clicked yet: the estates table already shows the first page of all estates.
    cdp.wait_for("document.getElementById('estates').dataset.loaded === '/api/estates/'",
                 "first estates page on open")
    want = [e["name"] for e in rows(api_json("/api/estates/"))]
    assert want, "the seed has estates"
    names = cdp.eval("[...document.querySelectorAll('#estates-results tr td:first-child')]"
                     ".map(x => x.textContent)")
    assert names == want, f"estates on open {names[:5]}... != API {want[:5]}..."
    want = [c["name"] for c in rows(api_json("/api/hot-cities/"))]
    assert want, "the seed has hot cities"
    got = cdp.wait_for("(() => { const b = [...document.querySelectorAll('#hot-cities button')];"
                       " return b.length ? b.map(x => x.textContent) : null; })()", "hot cities")
    assert got == want, f"hot cities {got} != API {want}"


def test_browser_drill_province_city_district_estates_equal_api(cdp):
    prov, city, dist, estates = pick_route()
    STATE.update(prov=prov, city=city, dist=dist, estates=estates)
    cdp.eval(f"document.querySelector('#provinces button[data-id=\"{prov['id']}\"]').click()")
    want = [c["name"] for c in prov["children"]]
    got = cdp.wait_for("(() => { const b = [...document.querySelectorAll('#cities button')];"
                       " return b.length ? b.map(x => x.textContent) : null; })()", "city list")
    assert got == want, f"cities {got} != API {want}"
    cdp.eval(f"document.querySelector('#cities button[data-id=\"{city['id']}\"]').click()")
    want = [d["name"] for d in city["children"]]
    got = cdp.wait_for("(() => { const b = [...document.querySelectorAll('#districts button')];"
                       " return b.length ? b.map(x => x.textContent) : null; })()", "district list")
    assert got == want, f"districts {got} != API {want}"
    cdp.eval(f"document.querySelector('#districts button[data-id=\"{dist['id']}\"]').click()")
    url = f"/api/estates/?dist={dist['id']}"
    cdp.wait_for(f"document.getElementById('estates').dataset.loaded === {json.dumps(url)}",
                 "estates of the district")
    names = cdp.eval("[...document.querySelectorAll('#estates-results tr td:first-child')]"
                     ".map(x => x.textContent)")
    assert names == [e["name"] for e in estates], f"estates {names} != API {[e['name'] for e in estates]}"
    crumbs = cdp.eval("[...document.querySelectorAll('#breadcrumb li')].map(x => x.textContent)")
    assert crumbs == [prov["name"], city["name"], dist["name"]], f"breadcrumb {crumbs}"


def test_browser_estate_filter_name_prefix_hot_range_equals_api(cdp):
    assert STATE, "no district chosen (drill-down failed)"
    dist, estates = STATE["dist"], STATE["estates"]
    target = estates[0]
    prefix = target["name"][:1]
    lo, hi = max(0, int(target["hot"]) - 5), int(target["hot"]) + 5
    query = urllib.parse.urlencode({"dist": dist["id"], "name": prefix, "minhot": lo, "maxhot": hi})
    url = f"/api/estates/?{query}"
    api = api_json(url)
    want = [e["name"] for e in rows(api)]
    assert target["name"] in want, f"API filter {url} does not return {target['name']}: {want}"
    cdp.eval(f"""(() => {{
        document.getElementById('name').value = {json.dumps(prefix)};
        document.getElementById('minhot').value = '{lo}';
        document.getElementById('maxhot').value = '{hi}';
        document.getElementById('estates-form').requestSubmit(); }})()""")
    cdp.wait_for(f"document.getElementById('estates').dataset.loaded === {json.dumps(url)}",
                 f"filtered estates {url}")
    names = cdp.eval("[...document.querySelectorAll('#estates-results tr td:first-child')]"
                     ".map(x => x.textContent)")
    assert names == want, f"page {names} != API {want}"
    count = cdp.eval("document.getElementById('estate-count').textContent")
    assert count.startswith(str(api.get("count", len(want)))), f"count text {count!r}, API count {api.get('count')}"


def test_browser_screenshot_saved(cdp):
    shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
    with open(SCREENSHOT, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    assert os.path.getsize(SCREENSHOT) > 10_000, "screenshot suspiciously small"


def test_browser_no_console_errors_no_csp_violations(cdp):
    cdp.drain()
    problems = console_problems(cdp.events)
    csp = cdp.eval("window.__csp")
    assert not csp, f"CSP violations: {csp}"
    assert not problems, "; ".join(problems)


def test_browser_api_error_message_shown_on_the_page(cdp):
    # The API's own message for an invalid range must appear on the page as the API words it.
    dist = STATE["dist"]
    url = f"/api/estates/?dist={dist['id']}&minhot=50&maxhot=10"
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{HTTP}{url}", timeout=10)
        raise AssertionError(f"API accepted minhot > maxhot: {url}")
    except urllib.error.HTTPError as e:
        assert 400 <= e.code < 500, f"API answered {e.code}"
        message = json.loads(e.read())["error"]["message"]
    cdp.eval("""(() => {
        document.getElementById('name').value = '';
        document.getElementById('minhot').value = '50';
        document.getElementById('maxhot').value = '10';
        document.getElementById('estates-form').requestSubmit(); })()""")
    cdp.wait_for("document.getElementById('estates').dataset.loaded === 'error'", "error display")
    shown = cdp.eval("document.getElementById('error').textContent")
    visible = cdp.eval("!document.getElementById('error').hidden")
    assert visible and shown.startswith(message), f"page shows {shown!r}, API says {message!r}"
