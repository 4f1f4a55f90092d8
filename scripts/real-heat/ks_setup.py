#!/usr/bin/python3
"""Idempotent Keystone setup for Heat (stdlib only, so it starts fast).

Creates/ensures: project `service`, user `heat` (admin on `service`), service `heat`
of type `orchestration` with public/internal/admin endpoints in the region, domain `heat`
with its admin user `heat_domain_admin`, roles `heat_stack_owner` and `heat_stack_user`.
Passwords are re-set only when they no longer authenticate (a PATCH of a user's
password revokes that user's tokens).

Usage: ks_setup.py AUTH_URL ADMIN_PASSWORD HEAT_PASSWORD DOMAIN_ADMIN_PASSWORD HEAT_URL REGION
"""
import json
import sys
import urllib.error
import urllib.request

AUTH_URL, ADMIN_PW, HEAT_PW, DADMIN_PW, HEAT_URL, REGION = sys.argv[1:7]


def call(method, path, body=None, token=None, ok=(200, 201, 204)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(AUTH_URL + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None), r.headers
    except urllib.error.HTTPError as e:
        raw = e.read()
        if e.code in ok:
            return e.code, None, e.headers
        return e.code, raw.decode(errors="replace"), e.headers


def password_ok(user, domain_id, password):
    st, _, _ = call("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"id": domain_id}, "password": password}}}}})
    return st == 201


def must(st, body, what):
    if st not in (200, 201, 204):
        sys.exit(f"ks_setup: {what} failed: {st} {body}")
    return body


st, body, hdr = call("POST", "/auth/tokens", {"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PW}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
must(st, body, "admin token")
TOKEN = hdr["X-Subject-Token"]


def get(path):
    st, body, _ = call("GET", path, token=TOKEN)
    return must(st, body, "GET " + path)


def post(path, body):
    st, out, _ = call("POST", path, body, token=TOKEN)
    return must(st, out, "POST " + path)


def ensure(collection, key, name, create, query=""):
    items = get(f"/{collection}?name={name}{query}")[collection]
    if items:
        return items[0]
    print(f"ks_setup: creating {key} {name}")
    return post(f"/{collection}", {key: create})[key]


def ensure_user(name, domain_id, password):
    items = get(f"/users?name={name}&domain_id={domain_id}")["users"]
    if not items:
        print(f"ks_setup: creating user {name}")
        return post("/users", {"user": {"name": name, "domain_id": domain_id, "password": password, "enabled": True}})["user"]
    user = items[0]
    if not password_ok(name, domain_id, password):
        print(f"ks_setup: resetting password of {name}")
        st, out, _ = call("PATCH", f"/users/{user['id']}", {"user": {"password": password, "enabled": True}}, token=TOKEN)
        must(st, out, "PATCH user " + name)
    return user


def grant(scope, scope_id, user_id, role_id):
    st, out, _ = call("PUT", f"/{scope}/{scope_id}/users/{user_id}/roles/{role_id}", token=TOKEN)
    must(st, out, f"grant {role_id} on {scope}/{scope_id}")


admin_role = ensure("roles", "role", "admin", {"name": "admin"})
for r in ("heat_stack_owner", "heat_stack_user"):
    ensure("roles", "role", r, {"name": r})

service_project = ensure("projects", "project", "service",
                         {"name": "service", "domain_id": "default", "description": "Service project"},
                         "&domain_id=default")
heat_user = ensure_user("heat", "default", HEAT_PW)
grant("projects", service_project["id"], heat_user["id"], admin_role["id"])

heat_domain = ensure("domains", "domain", "heat", {"name": "heat", "description": "Stack projects and users (Heat)"})
dadmin = ensure_user("heat_domain_admin", heat_domain["id"], DADMIN_PW)
grant("domains", heat_domain["id"], dadmin["id"], admin_role["id"])

svc = ensure("services", "service", "heat", {"name": "heat", "type": "orchestration", "description": "Orchestration"})
eps = get(f"/endpoints?service_id={svc['id']}")["endpoints"]
for iface in ("public", "internal", "admin"):
    mine = [e for e in eps if e["interface"] == iface and e.get("region_id") == REGION]
    if not mine:
        print(f"ks_setup: creating {iface} orchestration endpoint {HEAT_URL}")
        post("/endpoints", {"endpoint": {"service_id": svc["id"], "interface": iface, "region_id": REGION,
                                         "url": HEAT_URL, "enabled": True}})
    elif mine[0]["url"] != HEAT_URL:
        print(f"ks_setup: updating {iface} orchestration endpoint to {HEAT_URL}")
        st, out, _ = call("PATCH", f"/endpoints/{mine[0]['id']}", {"endpoint": {"url": HEAT_URL}}, token=TOKEN)
        must(st, out, "PATCH endpoint")
print("ks_setup: ok")
