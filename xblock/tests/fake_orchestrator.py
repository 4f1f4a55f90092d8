"""A fake lab orchestrator API on 127.0.0.1 (a free port), in a thread, recording every request."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

SERVICE_TOKEN = "svc-xblock-test-token"
#: linux-basics has graded checks (3 points in all); k8s-cluster has none.
LINUX_CHECKS = [
    {"name": "nginx", "title": "Nginx is installed", "weight": 2},
    {"name": "notes", "title": "Your notes are saved", "weight": 1},
]
CATALOG = [
    {"name": "linux-basics", "idleTimeout": 900, "deleteAfter": 1209600, "maxLifetime": None, "launchTimeout": 600,
     "checks": LINUX_CHECKS},
    {"name": "k8s-cluster", "idleTimeout": 1800, "deleteAfter": 604800, "maxLifetime": 7776000, "launchTimeout": 1200,
     "checks": []},
]
#: Check runs start and finish on this clock, a second apart, so "latest" is well defined.
EPOCH = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


@dataclass
class Recorded:
    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]
    body: Any


def lab_id_of(course_id: str, learner_id: str, lab: str) -> str:
    digest = hashlib.sha256(json.dumps([course_id, learner_id, lab]).encode()).digest()
    return "lab_" + base64.b32encode(digest).decode().lower()[:26]


@dataclass
class Fault:
    """An error answer for the requests whose method and path match, `times` times (None: always)."""

    method: str
    path_prefix: str
    status: int
    body: Any
    headers: Dict[str, str] = field(default_factory=dict)
    times: Optional[int] = None


@dataclass
class FakeOrchestrator:
    """Labs by id; tests set `labs[id]["state"]` to move a lab along, or add `faults`."""

    labs: Dict[str, dict] = field(default_factory=dict)
    requests: List[Recorded] = field(default_factory=list)
    faults: List[Fault] = field(default_factory=list)
    #: Heartbeat tokens issued per lab: each launch answer carries a fresh one.
    tokens_issued: Dict[str, int] = field(default_factory=dict)
    #: Check runs by id, in the order they started; tests finish them with `finish_check`.
    check_runs: Dict[str, dict] = field(default_factory=dict)
    #: Guards `check_runs`; notified when a run finishes (what `?wait=` waits for).
    check_changed: threading.Condition = field(default_factory=threading.Condition)
    #: The learners' lab time (the API's `usage`), when a usage limit applies: every lab answer
    #: carries it, and once it is `exceeded` with breach "block" or "suspend" launches (and
    #: resumes) are refused with the API's 403 `usage_limit`. None: no limit, no `usage` field.
    usage: Optional[dict] = None
    ticks: int = 0
    server: Optional[ThreadingHTTPServer] = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def calls(self, method: str, path_prefix: str = "") -> List[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def connection_of(self, lab: dict) -> dict:
        return {
            "protocol": "ssh",
            "host": f"10.0.0.{len(lab['learnerId'])}",
            "port": 22,
            "username": "learner",
            "secrets": {"private_key": f"KEY-OF-{lab['learnerId']}", "password": f"pw-{lab['learnerId']}"},
        }

    def fail(self, method: str, path_prefix: str, status: int, code: str, message: str, **kw: Any) -> None:
        """The API's error shape, {error: {code, message[, details]}}, for matching requests."""
        error = {"code": code, "message": message}
        if "details" in kw:
            error["details"] = kw.pop("details")
        self.faults.append(Fault(method, path_prefix, status, {"error": error}, **kw))

    def fault_for(self, method: str, path: str) -> Optional[Fault]:
        for fault in self.faults:
            if fault.method == method and path.startswith(fault.path_prefix) and fault.times != 0:
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def public_lab(self, lab: dict) -> dict:
        """A lab as the API answers it: with `usage` when a usage limit applies."""
        return {**lab, "usage": dict(self.usage)} if self.usage is not None else lab

    def usage_refusal(self) -> Optional[dict]:
        """The API's 403 for a launch once the lab time is used up (None while it is not)."""
        usage = self.usage
        if usage is None or not usage.get("exceeded") or usage.get("breach") == "warn":
            return None
        return {"error": {"code": "usage_limit", "message": "learner has used 72000 of 72000 seconds",
                          "details": dict(usage)}}

    def _now(self) -> str:
        self.ticks += 1
        return (EPOCH + timedelta(seconds=self.ticks)).isoformat().replace("+00:00", "Z")

    def clear_checks(self) -> None:
        with self.check_changed:
            self.check_runs.clear()

    def runs_of(self, lab_id: str) -> List[dict]:
        return [run for run in self.check_runs.values() if run["labId"] == lab_id]

    def finish_check(
        self,
        run_id: str,
        passed: Dict[str, bool],
        hints: Optional[Dict[str, str]] = None,
        timed_out: tuple = (),
        error: Optional[str] = None,
    ) -> dict:
        """Finishes a running run as the workflow would: each check passed or not (by name),
        with hints; or, with `error`, a run whose checks could not run at all."""
        with self.check_changed:
            run = self.check_runs[run_id]
            assert run["state"] == "running", run
            if error is not None:
                run.update(state="error", error=error, results=[])
            else:
                results = [
                    {
                        "name": check["name"],
                        "title": check["title"],
                        "passed": bool(passed.get(check["name"])),
                        "timedOut": check["name"] in timed_out,
                        "hint": (hints or {}).get(check["name"]),
                    }
                    for check in run["_checks"]
                ]
                earned = sum(c["weight"] for c in run["_checks"] if passed.get(c["name"]))
                run.update(
                    state="passed" if all(r["passed"] for r in results) else "failed",
                    results=results,
                    score={"earned": earned, "possible": run["score"]["possible"]},
                )
            run["finishedAt"] = self._now()
            self.check_changed.notify_all()
            return self.public_run(run)

    @staticmethod
    def public_run(run: dict) -> dict:
        return {k: v for k, v in run.items() if not k.startswith("_")}

    def handle_checks(self, method: str, lab: dict, rest: List[str], query: dict, body: Any) -> "tuple[int, Any]":
        """POST/GET /v1/labs/{id}/checks[/{checkId}], as the API's contract says."""
        with self.check_changed:
            if method == "POST" and not rest:
                if lab["state"] != "ready":
                    return 409, {"error": {"code": "conflict", "message": f"lab {lab['id']} is {lab['state']}, not ready",
                                           "details": {"state": lab["state"]}}}
                checks = next(entry["checks"] for entry in CATALOG if entry["name"] == lab["lab"])
                names = (body or {}).get("names")
                if not checks or (names and set(names) - {c["name"] for c in checks}):
                    return 422, {"error": {"code": "invalid_input", "message": "no such checks for this lab"}}
                running = [run for run in self.runs_of(lab["id"]) if run["state"] == "running"]
                if running:
                    return 202, self.public_run(running[0])
                chosen = [c for c in checks if not names or c["name"] in names]
                run_id = f"chk_{len(self.check_runs) + 1:04d}{lab['id'][-6:]}"
                run = self.check_runs[run_id] = {
                    "id": run_id,
                    "labId": lab["id"],
                    "state": "running",
                    "startedAt": self._now(),
                    "finishedAt": None,
                    "score": {"earned": 0, "possible": sum(c["weight"] for c in chosen)},
                    "results": [],
                    "error": None,
                    "_checks": chosen,
                }
                return 202, self.public_run(run)
            if method == "GET" and not rest:
                limit = int((query.get("limit") or ["20"])[0])
                return 200, {"checks": [self.public_run(r) for r in self.runs_of(lab["id"])[::-1][:limit]]}
            if method == "GET" and len(rest) == 1:
                run = self.check_runs.get(rest[0])
                if run is None or run["labId"] != lab["id"]:
                    return 404, {"error": {"code": "not_found", "message": f"no check {rest[0]} of lab {lab['id']}"}}
                wait = min(30, int((query.get("wait") or ["0"])[0]))
                if wait > 0:
                    self.check_changed.wait_for(lambda: run["state"] != "running", timeout=wait)
                return 200, self.public_run(run)
        return 404, {"error": {"code": "not_found", "message": f"no route {method} checks"}}

    def handle(self, method: str, path: str, query: dict, body: Any) -> "tuple[int, Any]":
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/v1/catalog":
            return 200, {"labs": CATALOG}
        if method == "POST" and path == "/v1/labs":
            if body.get("lab") not in {lab["name"] for lab in CATALOG}:
                return 422, {"error": {"code": "unknown_lab", "message": f"no lab {body.get('lab')}"}}
            refusal = self.usage_refusal()
            if refusal is not None:
                return 403, refusal
            lab_id = lab_id_of(body["courseId"], body["learnerId"], body["lab"])
            lab = self.labs.setdefault(
                lab_id,
                {
                    "id": lab_id,
                    "courseId": body["courseId"],
                    "learnerId": body["learnerId"],
                    "lab": body["lab"],
                    "state": "launching",
                    "progress": {"done": 0, "total": 3},
                    "error": None,
                    "lastActivityAt": None,
                    "suspendAt": None,
                    "deleteAt": None,
                    "stack": {"id": "s", "name": "secret-stack-name", "status": "CREATE_IN_PROGRESS", "statusReason": ""},
                },
            )
            issued = self.tokens_issued[lab_id] = self.tokens_issued.get(lab_id, 0) + 1
            return (200 if lab["state"] == "ready" else 202), {
                **self.public_lab(lab),
                "heartbeatToken": f"hb1.{lab_id}.{issued}.sig",
            }
        if len(parts) >= 3 and parts[:2] == ["v1", "labs"]:
            lab = self.labs.get(parts[2])
            if lab is None:
                return 404, {"error": {"code": "not_found", "message": f"no lab {parts[2]}"}}
            if method == "GET" and len(parts) == 3:
                return 200, self.public_lab(lab)
            if method == "GET" and parts[3:] == ["connection"]:
                if lab["state"] != "ready":
                    return 409, {"error": {"code": "conflict", "message": f"lab is {lab['state']}, not ready"}}
                return 200, self.connection_of(lab)
            if parts[3:4] == ["checks"]:
                return self.handle_checks(method, lab, parts[4:], query, body)
            if method == "POST" and parts[3:] == ["reset"]:
                lab["state"] = "resetting"
                return 202, self.public_lab(lab)
            if method == "POST" and parts[3:] == ["terminal-token"]:
                if lab["state"] != "ready":
                    return 409, {"error": {"code": "invalid_state", "message": f"lab is {lab['state']}", "details": {"state": lab["state"]}}}
                read_only = bool((body or {}).get("readOnly"))
                return 200, {
                    "token": f"tt1.{lab['id']}.{'ro' if read_only else 'rw'}.sig",
                    "expiresAt": "2026-01-01T00:01:00.000Z",
                    "url": f"/v1/labs/{lab['id']}/terminal",
                }
        return 404, {"error": {"code": "not_found", "message": f"no route {method} {path}"}}


def start(fake: FakeOrchestrator) -> FakeOrchestrator:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            fake.requests.append(
                Recorded(self.command, split.path, parse_qs(split.query), dict(self.headers), body)
            )
            headers: Dict[str, str] = {}
            fault = fake.fault_for(self.command, split.path)
            if self.headers.get("Authorization") != f"Bearer {SERVICE_TOKEN}":
                status, answer = 401, {"error": {"code": "unauthorized", "message": "unknown token"}}
            elif fault is not None:
                status, answer, headers = fault.status, fault.body, fault.headers
            else:
                status, answer = fake.handle(self.command, split.path, parse_qs(split.query), body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    fake.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    return fake
