#!/usr/bin/env python3
"""OpenAPI conformance of release-intake's public API, against the running server.

  openapi_conformance.py            (environment: SLUICE_TEST_API, SLUICE_TEST_ADMIN_TOKEN,
                                     SLUICE_TEST_LINK_KEY "kid:secret", SLUICE_TEST_GITHUB_SECRET,
                                     SLUICE_TEST_APP, SLUICE_TEST_SPEC (a spec file of that app),
                                     SLUICE_REPO_ROOT)

1. GET /v1/openapi.json; every schema in it is a valid JSON Schema (2020-12).
2. Every route release-intake registers in its source (services/release-intake/src/*.cpp) is a
   documented path and method: an undocumented route fails the test.
3. Every documented operation is called (a table of calls below, plus a call without a token for
   every operation that needs one); each answer's status must be one the document lists for
   that operation, its media type one it lists, and a JSON body must validate against the
   listed schema. A documented operation no call reached fails the test.
4. The route sweep: every operation that takes a bearer token answers 401 to bad tokens and 403
   to a token of each role below its x-sluice-role, in the documented Error shape.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from jsonschema import Draft202012Validator

API = os.environ["SLUICE_TEST_API"].rstrip("/")
ADMIN = os.environ["SLUICE_TEST_ADMIN_TOKEN"]
LINK_KID, LINK_SECRET = os.environ["SLUICE_TEST_LINK_KEY"].split(":", 1)
GITHUB_SECRET = os.environ["SLUICE_TEST_GITHUB_SECRET"]
APP = os.environ["SLUICE_TEST_APP"]
SPEC = open(os.environ["SLUICE_TEST_SPEC"], encoding="utf-8").read()
ROOT = os.environ["SLUICE_REPO_ROOT"]
# A base URI for the document (never fetched: it is in the registry / store).
DOC_URN = "https://sluice.invalid/openapi.json"

failures = []
exercised = set()  # (METHOD, template)


def fail(msg):
    failures.append(msg)
    print("  FAIL " + msg, flush=True)


def request(method, path, token=None, body=None, raw=None, content_type=None, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    elif raw is not None:
        data = raw if isinstance(raw, bytes) else raw.encode()
        if content_type:
            h["Content-Type"] = content_type
    req = urllib.request.Request(API + path, data=data, method=method, headers=h)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=30) as res:
            return res.status, dict(res.headers), res.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# ---- the document
status, _, raw_doc = request("GET", "/v1/openapi.json")
if status != 200:
    sys.exit(f"GET /v1/openapi.json answered {status}")
DOC = json.loads(raw_doc)
assert DOC["openapi"].startswith("3.1"), DOC["openapi"]
try:  # jsonschema >= 4.18 resolves references through `referencing`
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    _registry = Registry().with_resource(DOC_URN, Resource.from_contents(DOC, default_specification=DRAFT202012))

    def validator_for(ref):
        return Draft202012Validator({"$ref": ref}, registry=_registry)
except ImportError:  # Debian 12's python3-jsonschema (4.10)
    from jsonschema import RefResolver

    _resolver = RefResolver(DOC_URN, DOC, store={DOC_URN: DOC})

    def validator_for(ref):
        return Draft202012Validator({"$ref": ref}, resolver=_resolver)
for name, schema in DOC["components"]["schemas"].items():
    Draft202012Validator.check_schema(schema)


def pointer(*parts):
    return "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def template_regex(template):
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


TEMPLATES = sorted(DOC["paths"], key=lambda t: (t.count("{"), -len(t)))


def template_of(path):
    for t in TEMPLATES:  # literal paths before templated ones
        if template_regex(t).match(path):
            return t
    return None


def check(method, path, status, headers, body, want=None):
    """The answer conforms to the document; `want` (a status or a set) is what this call meant."""
    path_only = path.split("?")[0]
    template = template_of(path_only)
    label = f"{method} {path} -> {status}"
    if template is None or method.lower() not in DOC["paths"][template]:
        fail(f"{label}: no documented operation")
        return None
    exercised.add((method, template))
    op = DOC["paths"][template][method.lower()]
    if want is not None and status not in (want if isinstance(want, (set, tuple)) else {want}):
        fail(f"{label}: expected {want}; body {body[:300]!r}")
    if str(status) not in op["responses"]:
        fail(f"{label}: status not documented (documented: {sorted(op['responses'])}); body {body[:300]!r}")
        return None
    documented = op["responses"][str(status)]
    content = documented.get("content")
    media = (headers.get("Content-Type") or "").split(";")[0].strip()
    if not content:
        return body
    if media not in content:
        fail(f"{label}: media type {media!r} not documented ({sorted(content)})")
        return body
    if media == "application/json":
        try:
            parsed = json.loads(body)
        except ValueError:
            fail(f"{label}: body is not JSON")
            return None
        ref = f"{DOC_URN}#/" + pointer("paths", template, method.lower(), "responses", str(status), "content", media, "schema")
        validator = validator_for(ref)
        errors = sorted(validator.iter_errors(parsed), key=lambda e: list(e.path))
        for e in errors[:3]:
            fail(f"{label}: {'/'.join(map(str, e.path)) or '(root)'}: {e.message[:200]}")
        return parsed
    return body


def call(method, path, want=None, **kw):
    status, headers, body = request(method, path, **kw)
    parsed = check(method, path, status, headers, body, want)
    return status, headers, parsed


# ---- 2. every registered route is documented
def source_routes():
    routes = []
    for name in sorted(os.listdir(os.path.join(ROOT, "services/release-intake/src"))):
        if not name.endswith(".cpp") or name.endswith("_test.cpp"):
            continue
        text = open(os.path.join(ROOT, "services/release-intake/src", name), encoding="utf-8").read()
        consts = {m.group(1): m.group(2) for m in re.finditer(r'constexpr const char\* (k\w+) = R"\((.*?)\)";', text)}
        consts.update({m.group(1): m.group(2) for m in re.finditer(r'constexpr const char\* (k\w+) = "(.*?)";', text)})
        for m in re.finditer(r"\bs\.(?:Raw\(\)\.)?(Get|Post|Put|Delete)\(", text):
            # The first argument: string literals, std::string(...) and constants joined by '+'.
            rest = text[m.end():]
            depth, i, in_raw = 0, 0, False
            while i < len(rest):
                if rest.startswith('R"(', i):
                    i = rest.index(')"', i) + 2
                    continue
                if rest[i] == '"':
                    i = rest.index('"', i + 1) + 1
                    continue
                if rest[i] == "(":
                    depth += 1
                elif rest[i] == ")":
                    depth -= 1
                elif rest[i] == "," and depth == 0:
                    break
                i += 1
            expr = rest[:i]
            pattern = ""
            for tok in re.finditer(r'R"\((.*?)\)"|"((?:[^"\\]|\\.)*)"|\b(k\w+)\b', expr, re.S):
                if tok.group(1) is not None:
                    pattern += tok.group(1)
                elif tok.group(2) is not None:
                    pattern += tok.group(2).encode().decode("unicode_escape")
                else:
                    pattern += consts[tok.group(3)]
            routes.append((m.group(1).upper(), pattern, name))
    return routes


def sample(template):
    return re.sub(r"\{[^}]+\}", "abc-1", template)


routes = source_routes()
print(f"{len(routes)} routes registered in the source, {sum(len(v) for v in DOC['paths'].values())} documented operations")
if len(routes) < 25:
    fail(f"only {len(routes)} routes found in the source: the scan is broken")
for method, pattern, where in routes:
    rx = re.compile(pattern)
    if not any(method.lower() in ops and rx.fullmatch(sample(t)) for t, ops in DOC["paths"].items()):
        fail(f"undocumented route {method} {pattern} ({where})")
for t, ops in DOC["paths"].items():
    for method in ops:
        if t in ("/healthz", "/readyz", "/metrics"):
            continue  # mounted by libs/http (Server::MountOps)
        if not any(m == method.upper() and re.fullmatch(p, sample(t)) for m, p, _ in routes):
            fail(f"documented {method.upper()} {t} matches no route in the source")

# ---- 3. calls
suffix = uuid.uuid4().hex[:8]


def token(role):
    s, _, b = call("POST", "/v1/tokens", 201, token=ADMIN, body={"name": f"conf-{role}-{suffix}", "role": role, "expires_in": "1h"})
    return b["token"], b["id"]


print("ops and console")
call("GET", "/healthz", 200)
call("GET", "/readyz", 200)
call("GET", "/metrics", 200)
call("GET", "/v1/openapi.json", 200)
s, h, _ = call("GET", "/", 302)
if h.get("Location") != "/console/":
    fail(f"GET / redirects to {h.get('Location')}")
for path in ("/console", "/console/releases", "/console/deployments/abc-1", "/console/assets/app.js", "/console/assets/style.css"):
    s, h, body = call("GET", path, 200)
    for header in ("Content-Security-Policy", "ETag", "Cache-Control", "X-Content-Type-Options"):
        if header not in h:
            fail(f"GET {path}: no {header}")
    s2, _, _ = call("GET", path, 304, headers={"If-None-Match": h.get("ETag", "")})
call("GET", "/console/assets/missing.js", 404)

print("tokens and who")
viewer, viewer_id = token("viewer")
deployer, _ = token("deployer")
approver, _ = token("approver")
call("POST", "/v1/tokens", 409, token=ADMIN, body={"name": f"conf-viewer-{suffix}", "role": "viewer"})
call("POST", "/v1/tokens", 403, token=viewer, body={"name": "x", "role": "viewer"})
call("POST", "/v1/tokens", 400, token=ADMIN, body={"name": "x", "role": "emperor"})
call("POST", "/v1/tokens", 415, token=ADMIN, raw="name=x", content_type="application/x-www-form-urlencoded")
call("GET", "/v1/tokens", 200, token=ADMIN)
# Roles per environment: a token that deploys to staging only, and its grants managed by admins.
s, _, staging_only = call("POST", "/v1/tokens", 201, token=ADMIN,
                          body={"name": f"conf-staging-{suffix}", "environments": {"staging": "deployer"}, "expires_in": "1h"})
grant = f"/v1/tokens/{staging_only['id']}/environments/qa"
call("PUT", grant, 403, token=deployer, body={"role": "deployer"})
call("PUT", grant, 400, token=ADMIN, body={"role": "emperor"})
call("PUT", "/v1/tokens/no-such-token/environments/qa", 404, token=ADMIN, body={"role": "viewer"})
call("PUT", grant, 200, token=ADMIN, body={"role": "approver"})
call("DELETE", grant, 403, token=approver)
call("DELETE", grant, 200, token=ADMIN)
call("DELETE", "/v1/tokens/no-such-token/environments/qa", 404, token=ADMIN)
s, _, who = call("GET", "/v1/whoami", 200, token=viewer)
if who and who.get("role") != "viewer":
    fail(f"whoami says {who}")
call("GET", "/v1/whoami", 401, token="not-a-token")

print("console sessions")
s, h, sess = call("POST", "/v1/sessions", 201, token=deployer)
set_cookie = h.get("Set-Cookie", "")
for attr in ("sluice_session=sls_", "Path=/", "HttpOnly", "SameSite=Strict", "Max-Age="):
    if attr not in set_cookie:
        fail(f"POST /v1/sessions: Set-Cookie {set_cookie!r} lacks {attr}")
jar = {"Cookie": set_cookie.split(";")[0]}
csrf = {**jar, "X-CSRF-Token": (sess or {}).get("csrf_token", "")}
s, _, current = call("GET", "/v1/sessions/current", 200, headers=jar)
if current and (current.get("name") != f"conf-deployer-{suffix}" or current.get("csrf_token") != sess["csrf_token"]):
    fail(f"GET /v1/sessions/current: {current}")
s, _, who = call("GET", "/v1/whoami", 200, headers=jar)
if who and who.get("role") != "deployer":
    fail(f"whoami by session cookie says {who}")
s, _, err = call("POST", "/v1/links", 403, headers=jar, body={"path": "/console/deployments/x-1"})
if err and err["error"].get("code") != "csrf":
    fail(f"a change without the CSRF token: {err}")
call("POST", "/v1/links", 403, headers={**jar, "X-CSRF-Token": "forged"}, body={"path": "/console/deployments/x-1"})
call("POST", "/v1/links", 201, headers=csrf, body={"path": "/console/deployments/x-1"})
call("POST", "/v1/tokens", 403, headers=csrf, body={"name": "x", "role": "viewer"})  # a deployer's session
call("POST", "/v1/sessions", 401, headers=jar)  # a session does not make another: a token does
call("POST", "/v1/sessions", 400, token=viewer, body={"remember": True})
call("GET", "/v1/sessions/current", 401, headers={"Cookie": "sluice_session=sls_" + "A" * 43})
call("DELETE", "/v1/sessions/current", 403, headers=jar)
call("DELETE", "/v1/sessions/current", 204, headers=csrf)
call("GET", "/v1/sessions/current", 401, headers=jar)
call("GET", "/v1/whoami", 401, headers=jar)

print("releases")
sha = hashlib.sha256(suffix.encode()).hexdigest()
rel = {"app": APP, "tag": f"v1.0.{int(time.time())}", "artifact_url": "http://127.0.0.1:1/a.tgz", "sha256": sha}
s, _, release = call("POST", "/v1/releases", 201, token=deployer, body=rel)
call("POST", "/v1/releases", 200, token=deployer, body=rel)
call("POST", "/v1/releases", 409, token=deployer, body={**rel, "sha256": "0" * 64})
call("POST", "/v1/releases", 400, token=deployer, body={**rel, "surprise": 1})
call("POST", "/v1/releases", 403, token=viewer, body=rel)
call("POST", "/v1/releases", 413, token=deployer, raw=b'{"a":"' + b"x" * (2 << 20) + b'"}', content_type="application/json")
call("GET", f"/v1/releases?app={APP}&limit=5", 200, token=viewer)
call("GET", "/v1/releases?limit=0", 400, token=viewer)
# Filters: tag (a literal, case-sensitive substring: '%' is no wildcard) and since/until on
# created_at; the one release of this run's app was made within the hour.
tag_part = urllib.parse.quote(rel["tag"][1:])
_, _, found = call("GET", f"/v1/releases?app={APP}&tag={tag_part}&since=1h", 200, token=viewer)
if found and [r["id"] for r in found["items"]] != [release["id"]]:
    fail(f"GET /v1/releases?tag={rel['tag'][1:]}&since=1h: {found}")
_, _, none = call("GET", f"/v1/releases?app={APP}&tag=%25&until=2000-01-01T00:00:00Z", 200, token=viewer)
if none and none["items"]:
    fail(f"GET /v1/releases?tag=%&until=2000-01-01T00:00:00Z listed {none['items']}")
for query, field in (("tag=", "tag"), ("since=yesterday", "since"),
                     ("since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", "until")):
    _, _, err = call("GET", f"/v1/releases?{query}", 400, token=viewer)
    if err and err["error"].get("field") != field:
        fail(f"GET /v1/releases?{query}: {err}")
call("GET", f"/v1/releases/{release['id']}", 200, token=viewer)
call("GET", "/v1/releases/no-such-release", 404, token=viewer)

print("github hook")
ping = json.dumps({"zen": "conformance"}).encode()
sig = "sha256=" + hmac.new(GITHUB_SECRET.encode(), ping, hashlib.sha256).hexdigest()
gh = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": f"conf-{suffix}", "X-Hub-Signature-256": sig}
call("POST", "/v1/hooks/github", 202, raw=ping, content_type="application/json", headers=gh)
call("POST", "/v1/hooks/github", 401, raw=ping, content_type="application/json", headers={**gh, "X-Hub-Signature-256": "sha256=" + "0" * 64})

print("apps")
call("PUT", f"/v1/apps/{APP}", {200, 201}, token=approver, raw=SPEC, content_type="application/yaml")
call("PUT", f"/v1/apps/{APP}", 200, token=approver, raw=SPEC, content_type="application/yaml")
call("PUT", f"/v1/apps/{APP}", 422, token=approver, raw="app: " + APP + "\nenvironments: 3\n", content_type="application/yaml")
call("PUT", f"/v1/apps/{APP}", 403, token=deployer, raw=SPEC, content_type="application/yaml")
call("GET", "/v1/apps", 200, token=viewer)
call("GET", f"/v1/apps/{APP}", 200, token=viewer)
call("GET", f"/v1/apps/{APP}?version=x", 400, token=viewer)
call("GET", "/v1/apps/no-such-app", 404, token=viewer)
call("GET", f"/v1/apps/{APP}/versions", 200, token=viewer)
call("GET", f"/v1/apps/{APP}/environments", 200, token=viewer)
call("GET", "/v1/apps/no-such-app/environments", 404, token=viewer)

print("environments: freeze")
freeze = f"/v1/apps/{APP}/environments/production/freeze"
call("PUT", freeze, 403, token=approver, body={"reason": "conformance"})
call("PUT", freeze, 400, token=ADMIN, body={})
call("PUT", f"/v1/apps/{APP}/environments/nowhere/freeze", 404, token=ADMIN, body={"reason": "conformance"})
call("PUT", freeze, 200, token=ADMIN, body={"reason": "conformance"})
call("POST", "/v1/deployments", 409, token=deployer, body={"release_id": release["id"], "env": "production"})
call("POST", "/v1/deployments?dry_run=true", 200, token=deployer, body={"release_id": release["id"], "env": "production"})
call("DELETE", freeze, 403, token=deployer)
call("DELETE", f"/v1/apps/{APP}/environments/nowhere/freeze", 404, token=ADMIN)
call("DELETE", freeze, 200, token=ADMIN)

print("deployments")
env = "production"
call("POST", "/v1/deployments?dry_run=true", 200, token=deployer, body={"release_id": release["id"], "env": env})
call("POST", "/v1/deployments", 422, token=deployer, body={"release_id": release["id"], "env": "nowhere"})
s, _, err = call("POST", "/v1/deployments", 403, token=staging_only["token"], body={"release_id": release["id"], "env": env})
if err and err["error"].get("code") != "forbidden_in_environment":
    fail(f"a staging deployer deploying to {env}: {err}")
call("POST", "/v1/deployments", 403, token=deployer,
     body={"release_id": release["id"], "env": env, "override": {"reason": "conformance"}})
s, _, dep = call("POST", "/v1/deployments", 202, token=deployer, body={"release_id": release["id"], "env": env},
                 headers={"Idempotency-Key": f"conf-{suffix}"})
call("POST", "/v1/deployments", 409, token=deployer, body={"release_id": release["id"], "env": env, "spec_version": 1},
     headers={"Idempotency-Key": f"conf-{suffix}"})
dep_id = dep["deployment_id"]
deadline = time.time() + 30
while time.time() < deadline:
    s, _, _ = request("GET", f"/v1/deployments/{dep_id}", token=viewer)
    if s == 200:
        break
    time.sleep(0.5)
call("GET", f"/v1/deployments/{dep_id}", 200, token=viewer)
call("GET", f"/v1/deployments?app={APP}&status=running", 200, token=viewer)
call("GET", f"/v1/deployments?app={APP}&status=waiting", 200, token=viewer)
call("GET", "/v1/deployments/no-such-deployment", 404, token=viewer)
call("GET", f"/v1/deployments/{dep_id}/instances", {200, 404}, token=viewer)
call("POST", f"/v1/deployments/{dep_id}:pause", 403, token=viewer, body={})
call("POST", f"/v1/deployments/{dep_id}:approve", 403, token=deployer, body={})
for verb, who_tok in (("pause", deployer), ("resume", deployer), ("promote", deployer), ("approve", approver),
                      ("abort", deployer), ("rollback", approver)):
    call("POST", f"/v1/deployments/{dep_id}:{verb}", 202, token=who_tok, body={"reason": "conformance"})
call("POST", f"/v1/deployments/{dep_id}:pause", 400, token=deployer, body={"reason": 5})
# A second deployment of the release (queued behind the aborted one, or refused when the
# environment does not allow it), so that the list has a second page.
s, _, dep2 = call("POST", "/v1/deployments", {202, 409}, token=deployer, body={"release_id": release["id"], "env": env},
                  headers={"Idempotency-Key": f"conf2-{suffix}"})
if s == 202:
    deadline = time.time() + 30
    while time.time() < deadline:
        s, _, _ = request("GET", f"/v1/deployments/{dep2['deployment_id']}", token=viewer)
        if s == 200:
            break
        time.sleep(0.5)
# Paging: with two or more deployments the first page of one names the next, which holds the one
# after it (none held: those come on the first page only); a cursor that is not one is refused.
_, _, one = call("GET", "/v1/deployments?limit=1", 200, token=viewer)
_, _, two = call("GET", "/v1/deployments?limit=2", 200, token=viewer)
planned = [d for d in (two or {}).get("deployments", []) if "generation" in d]  # not the held ones
if one and len(planned) >= 2:
    if not isinstance(one.get("next_cursor"), str):
        fail(f"GET /v1/deployments?limit=1 with {len(planned)}+ deployments: no next_cursor: {one}")
    else:
        last = [d for d in one["deployments"] if "generation" in d][-1]
        _, _, nxt = call("GET", "/v1/deployments?limit=1&cursor=" + urllib.parse.quote(one["next_cursor"]), 200,
                         token=viewer)
        got = (nxt or {}).get("deployments", [])
        if len(got) != 1 or got[0]["id"] == last["id"] or "generation" not in got[0] \
                or (got[0]["created_at"], got[0]["id"]) > (last["created_at"], last["id"]):
            fail(f"the page after {last['id']} ({last['created_at']}): {got}")
        print(f"  paged: {last['id']} then {[d.get('id') for d in got]}")
else:
    print(f"  paging not checked: {len(planned)} deployment(s) listed by the planner")
s, _, err = call("GET", "/v1/deployments?cursor=not.a.cursor", 400, token=viewer)
if err and err["error"].get("field") != "cursor":
    fail(f"a malformed cursor: {err}")
# since/until bound created_at (since inclusive, until exclusive): this run's deployment was made
# within the hour, none before 2000; a malformed bound is refused naming it.
hour_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
_, _, recent = call("GET", f"/v1/deployments?app={APP}&since={hour_ago}&until=2261-01-01T00:00:00Z", 200,
                    token=viewer)
if recent and dep_id not in [d.get("id") for d in recent["deployments"]]:
    fail(f"GET /v1/deployments?since={hour_ago} without {dep_id}: {recent}")
_, _, ancient = call("GET", f"/v1/deployments?app={APP}&until=2000-01-01T00:00:00Z", 200, token=viewer)
if ancient and ancient["deployments"]:
    fail(f"GET /v1/deployments?until=2000-01-01T00:00:00Z listed {ancient['deployments']}")
for query, field in (("since=not-a-time", "since"), ("until=1.5h", "until"),
                     ("since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", "until")):
    _, _, err = call("GET", f"/v1/deployments?{query}", 400, token=viewer)
    if err and err["error"].get("field") != field:
        fail(f"GET /v1/deployments?{query}: {err}")

print("server-sent events")
call("GET", "/v1/events", 400, token=viewer)
call("GET", "/v1/events?deployment=no%20such", 400, token=viewer)
call("GET", "/v1/events?deployment=no-such-deployment", 404, token=viewer)
deadline = time.time() + 30
while time.time() < deadline:  # the abort above is applied asynchronously
    s, _, body = request("GET", f"/v1/deployments/{dep_id}", token=viewer)
    if s == 200 and json.loads(body).get("status") == "aborted":
        break
    time.sleep(0.5)
# A finished deployment: the snapshot, then the end, then the stream closes.
s, h, stream = call("GET", f"/v1/events?deployment={dep_id}", 200, token=viewer)
text = stream.decode() if isinstance(stream, bytes) else str(stream)
if not (h.get("Content-Type", "").startswith("text/event-stream") and "event: snapshot\n" in text
        and 'event: end\ndata: {"status":"aborted"}' in text):
    fail(f"GET /v1/events of an aborted deployment: {h.get('Content-Type')} {text[:300]!r}")
# Resumed after the first transition: the rest of the timeline as transitions, no snapshot.
s, h, stream = call("GET", f"/v1/events?deployment={dep_id}", 200, token=viewer, headers={"Last-Event-ID": "1"})
text = stream.decode() if isinstance(stream, bytes) else str(stream)
if "event: snapshot" in text or "id: 2\nevent: transition\n" not in text:
    fail(f"GET /v1/events with Last-Event-ID 1: {text[:300]!r}")

print("analyses, incidents, rollbacks")
call("GET", f"/v1/analyses?deployment_id={dep_id}", 200, token=viewer)
call("GET", "/v1/analyses/no-such-analysis", 404, token=viewer)
call("POST", "/v1/analyses", {400, 422}, token=deployer, body={"nonsense": True})
call("POST", "/v1/analyses", 400, token=deployer, raw="{", content_type="application/json")
call("GET", f"/v1/incidents?deployment_id={dep_id}", 200, token=viewer)
call("GET", "/v1/incidents/no-such-incident", 404, token=viewer)
call("GET", "/v1/incidents/no-such-incident/chart.svg", 404, token=viewer)
call("GET", f"/v1/rollbacks?deployment_id={dep_id}", 200, token=viewer)

print("signed links")
s, _, made = call("POST", "/v1/links", 201, token=deployer, body={"path": f"/console/deployments/{dep_id}", "expires_in": "10m"})
call("POST", "/v1/links", 400, token=deployer, body={"path": "/v1/tokens"})
call("POST", "/v1/links", 400, token=deployer, body={"path": f"/console/deployments/{dep_id}", "expires_in": "400d"})
call("POST", "/v1/links", 403, token=viewer, body={"path": f"/console/deployments/{dep_id}"})
link_header = {"X-Sluice-Link": made["url"]}
call("GET", f"/v1/deployments/{dep_id}", 200, headers=link_header)
call("GET", f"/v1/analyses?deployment_id={dep_id}", 200, headers=link_header)
call("GET", f"/v1/incidents?deployment_id={dep_id}", 200, headers=link_header)
call("GET", f"/v1/rollbacks?deployment_id={dep_id}", 200, headers=link_header)
call("GET", f"/v1/deployments/{dep_id}/instances", {200, 404}, headers=link_header)
call("GET", f"/v1/events?deployment={dep_id}&link={urllib.parse.quote(made['url'], safe='')}", 200)
call("GET", f"/v1/events?deployment=another-one&link={urllib.parse.quote(made['url'], safe='')}", 401)
call("GET", "/v1/deployments/another-one", 401, headers=link_header)
call("GET", "/v1/analyses", 401, headers=link_header)
call("GET", f"/v1/releases?app={APP}", 401, headers=link_header)


def signed(path, exp):
    mac = hmac.new(LINK_SECRET.encode(), f"sluice-link-v1\n{path}\n{exp}".encode(), hashlib.sha256).digest()
    return f"{path}?exp={exp}&kid={LINK_KID}&sig={base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


if made["url"] != signed(made["path"], made["expires_at_ms"] // 1000):
    fail(f"POST /v1/links signed {made['url']}, the documented scheme gives {signed(made['path'], made['expires_at_ms'] // 1000)}")
s, _, err = call("GET", f"/v1/deployments/{dep_id}", 401, headers={"X-Sluice-Link": signed(f"/console/deployments/{dep_id}", int(time.time()) - 5)})
if err and "expired" not in err["error"]["message"]:
    fail(f"an expired link's 401 does not say so: {err}")
call("GET", signed("/v1/incidents/no-such-incident/chart.svg", int(time.time()) + 60), 404)
call("GET", signed("/v1/incidents/no-such-incident", int(time.time()) + 60), 404)
call("GET", signed("/v1/incidents/no-such-incident", int(time.time()) - 1), 401)
call("GET", signed("/v1/incidents/other", int(time.time()) + 60).replace("/other", "/no-such-incident"), 401)

print("host agents: enrolment tokens, enrol, heartbeat, list, revoke")
_, _, enrol = call("POST", "/v1/agents/enrollment-tokens", 201, token=ADMIN, body={"expires_in": "10m"})
call("POST", "/v1/agents/enrollment-tokens", 400, token=ADMIN, body={"expires_in": "30d"})
host = f"conf-host-{suffix}"
enrol_body = {"enrollment_token": enrol["token"], "name": host, "address": "10.99.0.1", "labels": {"role": "web"}}
_, _, enrolled = call("POST", "/v1/agents/enroll", 201, body=enrol_body)
call("POST", "/v1/agents/enroll", 401, body=enrol_body)
call("POST", "/v1/agents/enroll", 400, body={"enrollment_token": enrol["token"], "name": "Bad Name", "address": "10.99.0.1"})
_, _, bound = call("POST", "/v1/agents/enrollment-tokens", 201, token=ADMIN, body={"name": f"other-{suffix}"})
call("POST", "/v1/agents/enroll", 403, body={"enrollment_token": bound["token"], "name": host, "address": "10.99.0.1"})
_, _, again = call("POST", "/v1/agents/enrollment-tokens", 201, token=ADMIN, body={})
call("POST", "/v1/agents/enroll", 409, body={"enrollment_token": again["token"], "name": host, "address": "10.99.0.2"})
call("POST", "/v1/agents/heartbeat", 200, token=enrolled["credential"])
call("POST", "/v1/agents/heartbeat", 401, token="slh_" + "A" * 43)
_, _, listed = call("GET", "/v1/agents", 200, token=viewer)
if not any(a["name"] == host and a["last_seen_at_ms"] for a in listed["items"]):
    fail(f"GET /v1/agents does not list {host} as seen: {listed}")
call("DELETE", f"/v1/agents/{host}", 200, token=ADMIN)
call("DELETE", "/v1/agents/no-such-host", 404, token=ADMIN)
call("POST", "/v1/agents/heartbeat", 401, token=enrolled["credential"])

print("conditional reads: ETag and If-None-Match")
# Reads whose bodies stay put meanwhile (the deployment's may still move).
for path, tok in ((f"/v1/apps/{APP}", viewer), ("/v1/openapi.json", None), (f"/v1/releases/{release['id']}", viewer)):
    s, h, _ = call("GET", path, 200, token=tok)
    tag = h.get("ETag", "")
    if not re.fullmatch(r'"[0-9a-f]{32}"', tag):
        fail(f"GET {path}: ETag {tag!r} is not a quoted 32-hex-digit tag")
        continue
    if path != "/v1/openapi.json" and h.get("Cache-Control") != "private, no-cache":
        fail(f"GET {path}: Cache-Control {h.get('Cache-Control')!r}, not 'private, no-cache'")
    for value in (tag, f'"other", W/{tag}', "*"):
        s, h2, body = call("GET", path, 304, token=tok, headers={"If-None-Match": value})
        if s == 304 and (body or h2.get("ETag") != tag):
            fail(f"GET {path} with If-None-Match {value}: 304 with body {body[:80]!r} or ETag {h2.get('ETag')!r}")
    call("GET", path, 200, token=tok, headers={"If-None-Match": '"' + "0" * 32 + '"'})
s, h, _ = call("GET", "/v1/whoami", 200, token=viewer)
# The same path, another caller: another body, so the viewer's tag does not match.
call("GET", "/v1/whoami", 200, token=deployer, headers={"If-None-Match": h.get("ETag", "")})
call("GET", "/v1/whoami", 401, token="not-a-token", headers={"If-None-Match": "*"})
s, h, _ = call("GET", f"/v1/events?deployment={dep_id}", 200, token=viewer, headers={"If-None-Match": "*"})
if "ETag" in h:
    fail(f"GET /v1/events carries an ETag: {h.get('ETag')}")

print("audit and revocation")
call("GET", "/v1/audit?limit=20", 200, token=ADMIN)
call("GET", "/v1/audit", 403, token=approver)
# Paging: the run has written many entries by now, so a page of one names the next, which holds
# the entry just older; the last page's next_cursor is null. A filter by action returns only that
# action; a cursor that is not one is refused naming it.
_, _, first = call("GET", "/v1/audit?limit=1", 200, token=ADMIN)
if first and not isinstance(first.get("next_cursor"), str):
    fail(f"GET /v1/audit?limit=1 after this run's calls: no next_cursor: {first}")
elif first:
    _, _, second = call("GET", "/v1/audit?limit=1&cursor=" + urllib.parse.quote(first["next_cursor"]), 200,
                        token=ADMIN)
    got = (second or {}).get("items", [])
    if len(got) != 1 or got[0]["id"] >= first["items"][0]["id"]:
        fail(f"the audit page after entry {first['items'][0]['id']}: {got}")
    print(f"  paged: {first['items'][0]['id']} then {[e.get('id') for e in got]}")
_, _, past_end = call("GET", "/v1/audit?limit=200&cursor=1", 200, token=ADMIN)
if past_end and past_end.get("next_cursor") is not None:
    fail(f"GET /v1/audit?cursor=1 (nothing older than entry 1): next_cursor {past_end.get('next_cursor')!r}")
_, _, tokens_made = call("GET", "/v1/audit?action=token.create&limit=200", 200, token=ADMIN)
entries = (tokens_made or {}).get("items", [])
if not entries or any(e["action"] != "token.create" for e in entries):
    fail(f"GET /v1/audit?action=token.create: {[(e.get('id'), e.get('action')) for e in entries][:10]}")
for bad, field in (("cursor=not.a.cursor", "cursor"), ("action=Token%20Create", "action"),
                   ("since=yesterday", "since"),
                   ("since=2027-01-31T10:00:00Z&until=2027-01-31T09:00:00Z", "until")):
    _, _, err = call("GET", "/v1/audit?" + bad, 400, token=ADMIN)
    if err and err["error"].get("field") != field:
        fail(f"GET /v1/audit?{bad}: field {err['error'].get('field')!r}, expected {field!r}")
call("DELETE", f"/v1/tokens/{viewer_id}", 200, token=ADMIN)
call("DELETE", "/v1/tokens/no-such-token", 404, token=ADMIN)
call("GET", "/v1/whoami", 401, token=viewer)

print("every operation that needs a token refuses a call without one")
for t, ops in DOC["paths"].items():
    for method, op in ops.items():
        if op.get("security"):
            call(method.upper(), sample(t), 401)

# The route sweep: every operation that takes a bearer token refuses a token that is not one
# (401) and a token of each role below its x-sluice-role (403), before it reads the body or the
# path's object, with the documented Error shape (check() validates it against the document).
print("every operation refuses a bad token and every role below the one it needs")
ROLES = ["viewer", "deployer", "approver", "admin"]
sweep_tokens = {}
for role in ROLES[:-1]:
    _, _, made = call("POST", "/v1/tokens", 201, token=ADMIN,
                      body={"name": f"sweep-{role}-{suffix}", "role": role, "expires_in": "1h"})
    sweep_tokens[role] = made["token"]
bad_tokens = ["slc_" + "A" * 43, "not-a-token", "slc_", "Bearer", "x" * 5000]
swept = 0
for t, ops in DOC["paths"].items():
    for method, op in ops.items():
        if not any("bearer" in req for req in op.get("security") or []):
            continue
        needed = op.get("x-sluice-role")
        if needed not in ROLES:
            fail(f"{method.upper()} {t}: x-sluice-role {needed!r} is not one of {ROLES}")
            continue
        body = {} if method in ("post", "put") else None
        for bad in bad_tokens:
            call(method.upper(), sample(t), 401, token=bad, body=body)
        for role in ROLES[:ROLES.index(needed)]:
            call(method.upper(), sample(t), 403, token=sweep_tokens[role], body=body)
        swept += 1
print(f"{swept} operations swept with {len(bad_tokens)} bad tokens and every role below theirs")
if swept < 25:
    fail(f"only {swept} operations swept: the document lost its bearer security or x-sluice-role")

missing = sorted(f"{m.upper()} {t}" for t, ops in DOC["paths"].items() for m in ops if (m.upper(), t) not in exercised)
for m in missing:
    fail(f"documented operation never called: {m}")
print(f"{len(exercised)} operations exercised, {len(failures)} failures")
sys.exit(1 if failures else 0)
