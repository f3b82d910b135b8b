"""components/gateway-api: the Gateway and HTTPRoutes validate against the vendored Gateway API CRD schemas
(test_render_and_schemas.py, target base+gateway-api) and route like the Ingress they stand beside: same
host, certificate, path, backend and timeouts, HTTP only redirects, and nothing but /api/ and the edge's photo paths reach the pods."""
from __future__ import annotations

import copy
import re

import jsonschema
import pytest

from conftest import one, find
from test_consistency import MEDIA_PATHS, PHOTO_PATHS, edge_location, routes_like_the_edge, selects
from test_render_and_schemas import validate

TARGET = "base+gateway-api"
INTERNAL = ("/metrics", "/readyz", "/healthz")


def seconds(duration: str) -> int:
    assert duration.endswith("s") and duration[:-1].isdigit(), f"{duration}: expected whole seconds"
    return int(duration[:-1])


@pytest.fixture(scope="module")
def objs(rendered):
    return rendered[TARGET]


def test_the_route_serves_the_ingress_host_path_and_backend(objs):
    ingress = one(objs, "Ingress", "app")
    gateway = one(objs, "Gateway", "zufang")
    route = one(objs, "HTTPRoute", "app")
    hosts = {h for rule in ingress["spec"]["rules"] for h in [rule["host"]]}
    assert set(route["spec"]["hostnames"]) == hosts
    listeners = {l["name"]: l for l in gateway["spec"]["listeners"]}
    https = listeners["https"]
    assert https["protocol"] == "HTTPS" and https["port"] == 443 and https["hostname"] in hosts
    assert [r["name"] for r in https["tls"]["certificateRefs"]] == [t["secretName"] for t in ingress["spec"]["tls"]]
    assert route["spec"]["parentRefs"] == [{"name": "zufang", "sectionName": "https"}]
    ingress_paths = [(p["path"], p["pathType"], p["backend"]["service"]) for rule in ingress["spec"]["rules"]
                     for p in rule["http"]["paths"]]
    service = one(objs, "Service", ingress_paths[0][2]["name"])
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == ingress_paths[0][2]["port"]["name"])
    route_paths = [(m["path"]["value"], m["path"]["type"], b["name"], b["port"])
                   for rule in route["spec"]["rules"] for m in rule["matches"] for b in rule["backendRefs"]]
    assert route_paths == [(path, "PathPrefix", svc["name"], port) for path, kind, svc in ingress_paths if kind == "Prefix"]


def test_nothing_but_the_api_reaches_the_pods(objs):
    for route in find(objs, "HTTPRoute"):
        for rule in route["spec"]["rules"]:
            if not rule.get("backendRefs"):
                assert [f["type"] for f in rule["filters"]] == ["RequestRedirect"], route["metadata"]["name"]
                continue
            for m in rule["matches"]:
                if m["path"]["type"] == "RegularExpression":
                    assert m["path"]["value"] in (edge_location("/api/houses/")[0], edge_location("/media/")[0])
                    assert not any(re.search(m["path"]["value"], p) for p in INTERNAL)
                    continue
                assert m["path"]["type"] in ("PathPrefix", "Exact") and m["path"]["value"].startswith("/api/")
                assert not any(p.startswith(m["path"]["value"]) for p in INTERNAL)


def test_plain_http_only_redirects_to_https(objs):
    gateway = one(objs, "Gateway", "zufang")
    http = [l["name"] for l in gateway["spec"]["listeners"] if l["protocol"] == "HTTP"]
    routes = [r for r in find(objs, "HTTPRoute") if any(p.get("sectionName") in http for p in r["spec"]["parentRefs"])]
    assert [r["metadata"]["name"] for r in routes] == ["app-redirect"]
    [rule] = routes[0]["spec"]["rules"]
    assert "matches" not in rule and "backendRefs" not in rule
    assert rule["filters"] == [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]


def test_timeouts_are_the_ingress_ones(objs):
    ann = one(objs, "Ingress", "app")["metadata"]["annotations"]
    read = int(ann["nginx.ingress.kubernetes.io/proxy-read-timeout"])
    retry_window = int(ann["nginx.ingress.kubernetes.io/proxy-next-upstream-timeout"])
    for rule in one(objs, "HTTPRoute", "app")["spec"]["rules"]:
        assert seconds(rule["timeouts"]["backendRequest"]) == read
        assert seconds(rule["timeouts"]["request"]) == read + retry_window


def test_photo_uploads_and_renditions_route_like_the_edge(objs):
    """Uploads: POST on the edge's upload path, no retry window. Renditions: GET/HEAD on the key shape alone
    (case-sensitive, as the edge), the read path's timeouts; both to the app's Service."""
    route = one(objs, "HTTPRoute", "app-photos")
    assert route["spec"]["parentRefs"] == [{"name": "zufang", "sectionName": "https"}]
    assert route["spec"]["hostnames"] == one(objs, "HTTPRoute", "app")["spec"]["hostnames"]
    uploads, media = route["spec"]["rules"]
    assert [(m["path"]["type"], m.get("method")) for m in uploads["matches"]] == [("RegularExpression", "POST")]
    assert [(m["path"]["type"], m.get("method")) for m in media["matches"]] == [("RegularExpression", "GET"),
                                                                               ("RegularExpression", "HEAD")]
    routes_like_the_edge(uploads["matches"][0]["path"]["value"], PHOTO_PATHS)
    for m in media["matches"]:
        routes_like_the_edge(m["path"]["value"], MEDIA_PATHS)
        assert not re.search(m["path"]["value"], MEDIA_PATHS[0][0].replace("large", "LARGE"))
    assert uploads["backendRefs"] == media["backendRefs"] == one(objs, "HTTPRoute", "app")["spec"]["rules"][0]["backendRefs"]
    ann = one(objs, "Ingress", "app-uploads")["metadata"]["annotations"]
    read = int(ann["nginx.ingress.kubernetes.io/proxy-read-timeout"])
    assert ann["nginx.ingress.kubernetes.io/proxy-next-upstream"] == "off"
    assert {k: seconds(v) for k, v in uploads["timeouts"].items()} == {"request": read, "backendRequest": read}
    assert media["timeouts"] == one(objs, "HTTPRoute", "app")["spec"]["rules"][0]["timeouts"]


def test_the_gateway_proxies_may_reach_the_app_port(objs):
    api = one(objs, "Deployment", "app")["spec"]["template"]["metadata"]["labels"]
    policy = one(objs, "NetworkPolicy", "app-from-gateway")
    assert selects(policy["spec"]["podSelector"], api)
    assert [p["port"] for r in policy["spec"]["ingress"] for p in r["ports"]] == [8080]


def test_the_schemas_reject_a_broken_route(objs):
    """The CRD validation can fail: a malformed duration, an unknown field, a bad path type."""
    route = one(objs, "HTTPRoute", "app")
    validate(route)
    for breaks in (lambda r: r["spec"]["rules"][0]["timeouts"].update(request="20 seconds"),
                   lambda r: r["spec"]["rules"][0].update(retries={"attempts": 2}),
                   lambda r: r["spec"]["rules"][0]["matches"][0]["path"].update(type="Prefix")):
        broken = copy.deepcopy(route)
        breaks(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)
    gateway = copy.deepcopy(one(objs, "Gateway", "zufang"))
    del gateway["spec"]["gatewayClassName"]
    with pytest.raises(jsonschema.ValidationError):
        validate(gateway)
