"""LabXBlock: each learner who opens the unit gets their own lab from the lab orchestrator.

Whose lab a request concerns is always derived on the server from the requesting user (the
runtime's user service: the course-specific anonymous user id) and the course; nothing the
browser sends selects a lab. The service token never leaves the server; the browser only gets
the lab's heartbeat token, which can do nothing but report activity on that one lab.
"""

from __future__ import annotations

import html
import time
from importlib import resources
from string import Template
from typing import Any, Optional

from webob import Response
from xblock.core import XBlock
from xblock.exceptions import JsonHandlerError
from xblock.fields import Scope, String
from xblock.validation import ValidationMessage

try:  # XBlock >= 2
    from web_fragments.fragment import Fragment
except ImportError:  # pragma: no cover
    from xblock.fragment import Fragment  # type: ignore

from .client import LabService, LabServiceError, NotConfigured, Settings

ANONYMOUS_ID = "edx-platform.anonymous_user_id"
#: Longest long-poll a browser may ask the handler for (it holds an LMS worker meanwhile).
MAX_WAIT = 25
#: What the browser sees of a lab: never ids of other systems, stacks or tokens.
BROWSER_FIELDS = ("state", "progress", "error", "lastActivityAt", "suspendAt", "deleteAt")


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
    # Written only from the launch answer for this user; checked against `lab_key`.
    lab_id = String(default="", scope=Scope.user_state)
    lab_key = String(default="", scope=Scope.user_state)

    # ----- views -----

    def student_view(self, context: Optional[dict] = None) -> Fragment:
        try:
            data = self._launch()
        except LabServiceError as err:
            data = {"message": err.message, "now": _now_ms()}
        fragment = Fragment(_template("html/lab.html", display_name=self.display_name))
        fragment.add_css(_resource("css/lab.css"))
        fragment.add_javascript(_resource("js/heartbeat.js"))
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
        """Launch, resume, or retry the learner's lab (the page's Resume / Try again)."""
        return self._json(self._launch)

    @XBlock.json_handler
    def status(self, data: dict, suffix: str = "") -> dict:
        """The lab, after at most `wait` seconds of the API's long-poll.

        With `known` ({state, progress} the page shows), a lab that already differs is answered
        at once, so a change between two polls is never waited out.
        """
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
        """The learner's private key as a file download."""
        try:
            service = self._service()
            key = (service.connection(self._lab_id(service)).get("secrets") or {}).get(
                "private_key"
            )
        except LabServiceError as err:
            return Response(err.message, status=err.status or 503, content_type="text/plain")
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

        def reset() -> dict:
            service = self._service()
            return self._answer(service.reset(self._lab_id(service)))

        return self._json(reset)

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
        return {"result": "success"}

    # ----- internals -----

    def _service(self) -> LabService:
        settings_service = self.runtime.service(self, "settings")
        bucket = settings_service.get_settings_bucket(self) if settings_service else None
        return LabService(Settings.from_bucket(bucket))

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
            raise LabServiceError("This unit has no lab yet: the course team chooses one in Studio.")
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

    def _lab_id(self, service: LabService) -> str:
        """The requesting user's lab in this unit: stored from their launch, else launched now."""
        if self.lab_id and self.lab_key == self._key():
            return self.lab_id
        self._launch(service)
        return self.lab_id

    def _answer(self, lab: dict) -> dict:
        return {"lab": {k: lab.get(k) for k in BROWSER_FIELDS}, "now": _now_ms()}

    def _key_filename(self) -> str:
        return f"{self.lab_name or 'lab'}-key.pem"

    @staticmethod
    def _json(action: Any) -> dict:
        try:
            return action()
        except NotConfigured as err:
            raise JsonHandlerError(503, err.message)
        except LabServiceError as err:
            raise JsonHandlerError(err.status or 503, err.message)

    @staticmethod
    def workbench_scenarios() -> list:
        return [("Lab", '<openedx_lab lab_name="demo"/>')]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _int(value: Any, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return low
