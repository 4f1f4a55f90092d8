"""LabXBlock: each learner who opens the unit gets their own lab from the lab orchestrator.

Whose lab a request concerns is always derived on the server from the requesting user (the
runtime's user service: the course-specific anonymous user id) and the course; nothing the
browser sends selects a lab. The service token never leaves the server; the browser only gets
the lab's heartbeat token, which can do nothing but report activity on that one lab, and
short-lived terminal tokens, which open that one lab's terminal and nothing else.

Only POST handlers change a lab or hand out a token (launch, reset, heartbeat and terminal
tokens): rendering the unit and the one GET handler (the key download) never launch one, so a
same-site `<img>` or a prefetch cannot start labs for whoever views a page. The page's script
launches when it starts.

Each user has a small budget of calls per minute (throttle.py): every call reaches the API with
the LMS's one service token, which one learner in a loop must not spend for everyone.
"""

from __future__ import annotations

import html
import json
import time
from importlib import resources
from string import Template
from typing import Any, Optional

from webob import Response
from xblock.core import XBlock
from xblock.exceptions import JsonHandlerError
from xblock.fields import Boolean, Scope, String
from xblock.validation import ValidationMessage

try:  # XBlock >= 2
    from web_fragments.fragment import Fragment
except ImportError:  # pragma: no cover
    from xblock.fragment import Fragment  # type: ignore

from . import words
from .client import LabService, LabServiceError, NotConfigured, Settings
from .throttle import Throttle

ANONYMOUS_ID = "edx-platform.anonymous_user_id"
#: Longest long-poll a browser may ask the handler for (it holds an LMS worker meanwhile).
MAX_WAIT = 25
#: What the browser sees of a lab: never ids of other systems, stacks or tokens.
BROWSER_FIELDS = ("state", "progress", "error", "lastActivityAt", "suspendAt", "deleteAt")
#: Lab states in which a fresh heartbeat token is handed out: launching for one (which is how
#: the API issues it) changes nothing, or resumes a paused lab the learner is active on.
TOKEN_STATES = ("queued", "launching", "ready", "suspending", "suspended", "resuming", "resetting")
#: Calls per user per minute, by kind: XBLOCK_SETTINGS["LabXBlock"] key and default.
RATE_LIMITS = {
    # launch, reset, heartbeat and terminal tokens: the page makes one per opening, click or
    # terminal (re)connection.
    "actions": ("ACTIONS_PER_MINUTE", 12),
    # status long-polls, connection, key download: a few per minute while a lab changes.
    "reads": ("READS_PER_MINUTE", 120),
}


class HandlerError(JsonHandlerError):
    """An error for the page, in learner words, with when to try again after a 429."""

    def __init__(self, status_code: int, message: str, retry_after: Optional[int] = None):
        super().__init__(status_code, message)
        self.retry_after = retry_after

    @classmethod
    def of(cls, err: LabServiceError) -> "HandlerError":
        # A refused service token is the site's configuration, not a learner's 401.
        status = 503 if isinstance(err, NotConfigured) else (err.status or 503)
        return cls(status, err.message, err.retry_after)

    def _headers(self, response: Response) -> Response:
        if self.retry_after:
            response.headers["Retry-After"] = str(self.retry_after)
        return response

    def get_response(self, **kwargs: Any) -> Response:
        body: dict = {"error": self.message}
        if self.retry_after:
            body["retryAfter"] = self.retry_after
        return self._headers(
            Response(
                json.dumps(body),
                status=self.status_code,
                content_type="application/json",
                charset="utf-8",
                **kwargs,
            )
        )

    def text_response(self) -> Response:
        return self._headers(
            Response(self.message, status=self.status_code, content_type="text/plain", charset="utf-8")
        )


def _resource(path: str) -> str:
    return resources.files(__package__).joinpath("static", path).read_text(encoding="utf-8")


def _template(path: str, **values: Any) -> str:
    """A static HTML template with every value HTML-escaped, except *_html ones."""
    escaped = {
        k: (v if k.endswith("_html") else html.escape(str(v), quote=True)) for k, v in values.items()
    }
    return Template(_resource(path)).substitute(escaped)


def human_duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "none"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


@XBlock.needs("user")
@XBlock.wants("settings")
class LabXBlock(XBlock):
    """A per-learner OpenStack lab, launched and shown inside a course unit."""

    block_settings_key = "LabXBlock"
    has_author_view = True

    display_name = String(
        display_name="Display name", default="Lab", scope=Scope.settings, help="The unit's title"
    )
    lab_name = String(
        display_name="Lab",
        default="",
        scope=Scope.settings,
        help="A lab of the orchestrator's catalog",
    )
    terminal_enabled = Boolean(
        display_name="Terminal in the browser",
        default=True,
        scope=Scope.settings,
        help="Learners get a terminal on their lab in the page (their own SSH client stays possible)",
    )
    terminal_read_only = Boolean(
        display_name="Read-only terminal",
        default=False,
        scope=Scope.settings,
        help="The terminal shows the lab but ignores typing (for demonstrations)",
    )
    # Written only from the launch answer for this user; checked against `lab_key`.
    lab_id = String(default="", scope=Scope.user_state)
    lab_key = String(default="", scope=Scope.user_state)

    # ----- views -----

    def student_view(self, context: Optional[dict] = None) -> Fragment:
        """The unit, without a call to the API: the page's script launches (a POST) when it starts."""
        data: dict = {"now": _now_ms()}
        try:
            self._service()
            if not self.lab_name:
                raise LabServiceError(words.NO_LAB_IN_UNIT)
            self._key()
            data["launch"] = True
        except LabServiceError as err:
            data["message"] = err.message
        fragment = Fragment(_template("html/lab.html", display_name=self.display_name))
        fragment.add_css(_resource("css/lab.css"))
        fragment.add_javascript(_resource("js/heartbeat.js"))
        if self.terminal_enabled:
            data["terminal"] = {"readOnly": bool(self.terminal_read_only), "words": words.TERMINAL}
            fragment.add_css(_resource("css/terminal.css"))
            fragment.add_javascript(_resource("js/terminal.js"))
        fragment.add_javascript(_resource("js/lab.js"))
        fragment.initialize_js("LabXBlock", data)
        return fragment

    def author_view(self, context: Optional[dict] = None) -> Fragment:
        """Studio's unit page: what the unit holds, without launching a lab for the author."""
        what = f"Lab “{self.lab_name}”" if self.lab_name else "No lab chosen yet: edit this unit."
        return Fragment(
            _template(
                "html/author.html",
                display_name=self.display_name,
                summary=what,
            )
        )

    def studio_view(self, context: Optional[dict] = None) -> Fragment:
        message = ""
        try:
            catalog = self._service().catalog()
        except LabServiceError as err:
            catalog = []
            message = f"The lab catalog cannot be read: {err.message}"
        names = [str(lab["name"]) for lab in catalog]
        if self.lab_name and self.lab_name not in names:
            names.insert(0, self.lab_name)
            if catalog:
                message = f"The lab “{self.lab_name}” is no longer in the catalog: pick another."
        options = "".join(
            '<option value="{0}"{1}>{0}</option>'.format(
                html.escape(name, quote=True), " selected" if name == self.lab_name else ""
            )
            for name in names
        )
        rows = "".join(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                html.escape(str(lab["name"])),
                human_duration(lab.get("idleTimeout")),
                human_duration(lab.get("deleteAfter")),
                human_duration(lab.get("maxLifetime")),
                human_duration(lab.get("launchTimeout")),
            )
            for lab in catalog
        )
        fragment = Fragment(
            _template(
                "html/studio.html",
                message=message,
                display_name=self.display_name,
                options_html=options,
                rows_html=rows,
                terminal_enabled_html=" checked" if self.terminal_enabled else "",
                terminal_read_only_html=" checked" if self.terminal_read_only else "",
            )
        )
        fragment.add_css(_resource("css/lab.css"))
        fragment.add_javascript(_resource("js/studio.js"))
        fragment.initialize_js("LabXBlockStudio")
        return fragment

    def validate(self):
        result = super().validate()
        if not self.lab_name:
            result.add(ValidationMessage(ValidationMessage.WARNING, "No lab chosen yet."))
        return result

    # ----- learner handlers: every one works on the requesting user's lab only -----

    @XBlock.json_handler
    def launch(self, data: dict, suffix: str = "") -> dict:
        """Launch, resume, or retry the learner's lab (the page's start, Resume, Try again)."""
        self._throttle("actions")
        return self._json(self._launch)

    @XBlock.json_handler
    def status(self, data: dict, suffix: str = "") -> dict:
        """The lab, after at most `wait` seconds of the API's long-poll.

        With `known` ({state, progress} the page shows), a lab that already differs is answered
        at once, so a change between two polls is never waited out.
        """
        self._throttle("reads")
        wait = _int(data.get("wait"), 0, MAX_WAIT)
        known = data.get("known") if isinstance(data.get("known"), dict) else None

        def poll() -> dict:
            service = self._service()
            lab_id = self._lab_id(service)
            try:
                if known is not None:
                    lab = service.lab(lab_id)
                    if (lab.get("state"), lab.get("progress")) != (
                        known.get("state"),
                        known.get("progress"),
                    ):
                        return self._answer(lab)
                return self._answer(service.lab(lab_id, wait=wait))
            except LabServiceError as err:
                if err.status != 404:
                    raise
                return self._launch(service)  # the orchestrator forgot it: start afresh

        return self._json(poll)

    @XBlock.json_handler
    def connection(self, data: dict, suffix: str = "") -> dict:
        """How to connect: host, user, SSH command, secrets (the private key only by download)."""
        self._throttle("reads")

        def read() -> dict:
            service = self._service()
            found = service.connection(self._lab_id(service))
            secrets = dict(found.get("secrets") or {})
            has_key = secrets.pop("private_key", None) is not None
            host, port, user = found.get("host"), found.get("port"), found.get("username")
            command = None
            if found.get("protocol") == "ssh" and host:
                command = "ssh"
                if has_key:
                    command += f" -i {self._key_filename()}"
                if port and port != 22:
                    command += f" -p {port}"
                command += f" {user}@{host}" if user else f" {host}"
            return {
                "protocol": found.get("protocol"),
                "host": host,
                "port": port,
                "username": user,
                "command": command,
                "privateKey": has_key,
                "privateKeyFile": self._key_filename() if has_key else None,
                "secrets": secrets,
            }

        return self._json(read)

    @XBlock.handler
    def private_key(self, request: Any, suffix: str = "") -> Response:
        """The learner's private key as a file download.

        A GET (a download link), so it only reads: without a launched lab it is a 404, never a
        launch.
        """
        try:
            self._throttle("reads")
            service = self._service()
            lab_id = self._existing_lab_id()
            key = (service.connection(lab_id).get("secrets") or {}).get("private_key")
        except LabServiceError as err:
            return HandlerError.of(err).text_response()
        except HandlerError as err:
            return err.text_response()
        if not key:
            return Response("This lab has no private key.", status=404, content_type="text/plain")
        if not key.endswith("\n"):
            key += "\n"
        response = Response(key, content_type="application/x-pem-file", charset="utf-8")
        response.content_disposition = f'attachment; filename="{self._key_filename()}"'
        response.cache_control = "no-store"
        return response

    @XBlock.json_handler
    def reset(self, data: dict, suffix: str = "") -> dict:
        """Delete the learner's stack and build a fresh one (the page asks for confirmation)."""
        if data.get("confirm") is not True:
            raise JsonHandlerError(400, "A reset must be confirmed.")
        self._throttle("actions")

        def reset() -> dict:
            service = self._service()
            return self._answer(service.reset(self._lab_id(service)))

        return self._json(reset)

    @XBlock.json_handler
    def heartbeat_token(self, data: dict, suffix: str = "") -> dict:
        """A fresh heartbeat token for the learner's own lab, when the API refused the page's.

        A key rotation that drops the old key refuses tokens signed with it (401). The API
        issues tokens with a launch, so this launches the learner's existing lab, and only in a
        state where that changes nothing the learner did not ask for: never a lab they do not
        have, nor a failed or deleted one (the page stops its heartbeats instead).
        """
        self._throttle("actions")

        def renew() -> dict:
            service = self._service()
            if service.lab(self._existing_lab_id()).get("state") not in TOKEN_STATES:
                raise LabServiceError(words.NO_TOKEN_NOW, 409)
            return {"heartbeat": self._launch(service)["heartbeat"]}

        return self._json(renew)

    @XBlock.json_handler
    def terminal_token(self, data: dict, suffix: str = "") -> dict:
        """A short-lived token for the terminal of the learner's own lab, and where to open it.

        Never launches: without a lab of the learner's, a 404; before it is ready, the API's 409.
        Read-only when the unit says so (the API enforces it for the token).
        """
        if not self.terminal_enabled:
            raise HandlerError(403, words.TERMINAL_OFF)
        self._throttle("actions")

        def issue() -> dict:
            service = self._service()
            answer = service.terminal_token(
                self._existing_lab_id(), read_only=bool(self.terminal_read_only)
            )
            return {
                "token": answer["token"],
                "expiresAt": answer.get("expiresAt"),
                "wsUrl": websocket_url(service.settings.public_api_url, str(answer["url"])),
            }

        return self._json(issue)

    # ----- Studio -----

    @XBlock.json_handler
    def studio_submit(self, data: dict, suffix: str = "") -> dict:
        display_name = str(data.get("display_name") or "").strip()
        lab_name = str(data.get("lab_name") or "").strip()
        if not display_name or len(display_name) > 255:
            raise JsonHandlerError(400, "The display name must have 1 to 255 characters.")
        if lab_name != self.lab_name or not lab_name:
            try:
                names = [str(lab["name"]) for lab in self._service().catalog()]
            except LabServiceError as err:
                raise JsonHandlerError(503, f"The lab name cannot be checked: {err.message}")
            if lab_name not in names:
                raise JsonHandlerError(
                    400,
                    f"“{lab_name}” is not a lab of the catalog (it has: {', '.join(names) or 'none'}).",
                )
        self.display_name = display_name
        self.lab_name = lab_name
        for name in ("terminal_enabled", "terminal_read_only"):
            if isinstance(data.get(name), bool):  # absent: unchanged
                setattr(self, name, data[name])
        return {"result": "success"}

    # ----- internals -----

    def _settings_bucket(self) -> Optional[dict]:
        settings_service = self.runtime.service(self, "settings")
        return settings_service.get_settings_bucket(self) if settings_service else None

    def _service(self) -> LabService:
        return LabService(Settings.from_bucket(self._settings_bucket()))

    def _learner_id(self) -> str:
        user = self.runtime.service(self, "user").get_current_user()
        anonymous_id = user.opt_attrs.get(ANONYMOUS_ID) if user is not None else None
        if not anonymous_id:
            raise LabServiceError("Sign in and enroll in the course to get your lab.", 403)
        return str(anonymous_id)

    def _course_id(self) -> str:
        usage = self.scope_ids.usage_id
        key = (
            getattr(usage, "context_key", None)
            or getattr(usage, "course_key", None)
            or getattr(self.runtime, "course_id", None)
        )
        if not key:
            raise LabServiceError("This unit is not part of a course.")
        return str(key)

    def _key(self) -> str:
        return "\n".join((self._course_id(), self._learner_id(), self.lab_name))

    def _launch(self, service: Optional[LabService] = None) -> dict:
        service = service or self._service()
        if not self.lab_name:
            raise LabServiceError(words.NO_LAB_IN_UNIT)
        key = self._key()
        lab = service.launch(self._course_id(), self._learner_id(), self.lab_name)
        self.lab_id, self.lab_key = str(lab["id"]), key
        self.save()
        answer = self._answer(lab)
        answer["heartbeat"] = {
            "url": f"{service.settings.public_api_url}/v1/labs/{lab['id']}/heartbeat",
            "token": lab["heartbeatToken"],
        }
        return answer

    def _stored_lab_id(self) -> str:
        """The requesting user's lab in this unit, as stored from their last launch ("" if none)."""
        return self.lab_id if self.lab_id and self.lab_key == self._key() else ""

    def _existing_lab_id(self) -> str:
        """The requesting user's stored lab, or a 404: for handlers that must never launch one."""
        lab_id = self._stored_lab_id()
        if not lab_id:
            raise LabServiceError(words.NO_LAB_YET, 404)
        return lab_id

    def _lab_id(self, service: LabService) -> str:
        """The requesting user's lab in this unit: stored from their launch, else launched now.

        Launches: for POST handlers only.
        """
        if not self._stored_lab_id():
            self._launch(service)
        return self.lab_id

    def _answer(self, lab: dict) -> dict:
        shown = {k: lab.get(k) for k in BROWSER_FIELDS}
        error = lab.get("error")
        if error:
            # The lab's raw reason (Heat's, with project ids and hosts) is for staff only.
            code = error.get("code") if isinstance(error, dict) else None
            shown["error"] = {"code": code, "message": words.lab_error(code)}
        return {"lab": shown, "now": _now_ms()}

    def _throttle(self, kind: str) -> None:
        """Counts a call against the requesting user's budget; past it, a 429 "slow down"."""
        user = self.scope_ids.user_id
        if user is None:  # signed out: no handler reaches the API without a learner id
            return
        name, default = RATE_LIMITS[kind]
        bucket = self._settings_bucket() or {}
        per_minute = _int(bucket.get(name), 1, 1_000_000) if bucket.get(name) else default
        wait = Throttle(kind, per_minute).take(str(user))
        if wait is not None:
            raise HandlerError(429, words.slow_down(wait), wait)

    def _key_filename(self) -> str:
        return f"{self.lab_name or 'lab'}-key.pem"

    @staticmethod
    def _json(action: Any) -> dict:
        try:
            return action()
        except LabServiceError as err:
            raise HandlerError.of(err)

    @staticmethod
    def workbench_scenarios() -> list:
        return [("Lab", '<openedx_lab lab_name="demo"/>')]


def websocket_url(public_api_url: str, path: str) -> str:
    """The API's `url` for a WebSocket (a path, or an absolute http(s) URL) as the browser opens it."""
    url = path if "://" in path else public_api_url + path
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if url.startswith(http):
            return ws + url[len(http):]
    return url


def _now_ms() -> int:
    return int(time.time() * 1000)


def _int(value: Any, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return low
