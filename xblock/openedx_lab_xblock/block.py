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

Graded checks (issue 17): when the unit's lab has checks, the block is scorable (the
ScorableXBlockMixin contract). The learner's "Check my work" starts a run of the checks on their
own lab; the page long-polls it, and the handler that sees it finish publishes the grade (the best
or the latest score, as Studio says) and remembers the run as published. A run the page never saw
finish (the tab was closed) is published the next time the learner opens the unit.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import time
from datetime import datetime
from importlib import resources
from string import Template
from typing import Any, Optional

from webob import Response
from xblock.core import XBlock
from xblock.exceptions import JsonHandlerError
from xblock.fields import Boolean, Dict, Float, List, Scope, String
from xblock.scorable import ScorableXBlockMixin, Score
from xblock.validation import ValidationMessage

try:  # XBlock >= 2
    from web_fragments.fragment import Fragment
except ImportError:  # pragma: no cover
    from xblock.fragment import Fragment  # type: ignore

from . import words
from .client import LabService, LabServiceError, NotConfigured, Settings, UsageLimitReached, usage_of
from .throttle import Throttle

log = logging.getLogger(__name__)

ANONYMOUS_ID = "edx-platform.anonymous_user_id"
#: Longest long-poll a browser may ask the handler for (it holds an LMS worker meanwhile).
MAX_WAIT = 25
#: What the browser sees of a lab: never ids of other systems, stacks or tokens. `usage` (the
#: learner's lab time, when a usage limit applies) only as client.usage_of() keeps it.
BROWSER_FIELDS = ("state", "progress", "error", "lastActivityAt", "suspendAt", "deleteAt", "usage")
#: Lab states in which a fresh heartbeat token is handed out: launching for one (which is how
#: the API issues it) changes nothing, or resumes a paused lab the learner is active on.
TOKEN_STATES = ("queued", "launching", "ready", "suspending", "suspended", "resuming", "resetting")
#: Calls per user per minute, by kind: XBLOCK_SETTINGS["LabXBlock"] key and default.
RATE_LIMITS = {
    # launch, reset, check runs, heartbeat and terminal tokens: the page makes one per opening,
    # click or terminal (re)connection.
    "actions": ("ACTIONS_PER_MINUTE", 12),
    # status and check long-polls, connection, key download: a few per minute while a lab changes.
    "reads": ("READS_PER_MINUTE", 120),
}
#: Grade policies: keep the best score of all runs, or the latest run's.
GRADE_POLICIES = ("best", "latest")
#: A check run's id as the API makes it (`chk_` and the workflow's id): nothing else reaches a URL.
CHECK_ID = re.compile(r"^chk_[A-Za-z0-9_.:-]{1,128}$")
#: Finished run states that give a grade (`error`: the checks could not run, no grade).
GRADED_STATES = ("passed", "failed")
#: Runs listed when the learner opens the unit, to publish those finished while the tab was closed.
RECONCILE_RUNS = 20
#: Published run ids kept per learner (the reconcile only ever lists the latest RECONCILE_RUNS).
PUBLISHED_KEPT = 100


class HandlerError(JsonHandlerError):
    """An error for the page, in learner words, with when to try again after a 429.

    `extra` goes into the answer as well: for a launch refused because the learner's lab time is
    used up, its code and the usage, so the page tells it from other 403s and does not retry.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        retry_after: Optional[int] = None,
        extra: Optional[dict] = None,
    ):
        super().__init__(status_code, message)
        self.retry_after = retry_after
        self.extra = extra or {}

    @classmethod
    def of(cls, err: LabServiceError) -> "HandlerError":
        # A refused service token is the site's configuration, not a learner's 401.
        status = 503 if isinstance(err, NotConfigured) else (err.status or 503)
        extra = None
        if isinstance(err, UsageLimitReached):
            extra = {"code": err.code, "usage": usage_of(err.details)}
        return cls(status, err.message, err.retry_after, extra)

    def _headers(self, response: Response) -> Response:
        if self.retry_after:
            response.headers["Retry-After"] = str(self.retry_after)
        return response

    def get_response(self, **kwargs: Any) -> Response:
        body: dict = {"error": self.message, **self.extra}
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
class LabXBlock(ScorableXBlockMixin, XBlock):
    """A per-learner OpenStack lab, launched and shown inside a course unit.

    Scored only when its lab has graded checks (`checks`, from the catalog when the unit was
    saved in Studio): a unit without checks is not part of the grade, as before.
    """

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
    # ----- graded checks (Studio) -----
    weight = Float(
        display_name="Weight",
        default=None,
        values={"min": 0, "step": 0.1},
        scope=Scope.settings,
        help="Points this unit is worth in the course grade (empty: the total weight of the lab's checks)",
    )
    show_hints = Boolean(
        display_name="Show hints",
        default=True,
        scope=Scope.settings,
        help="Learners see the hint of each check that did not pass",
    )
    show_check_results = Boolean(
        display_name="Show each check's result",
        default=True,
        scope=Scope.settings,
        help="Learners see which checks passed; otherwise only their score",
    )
    grade_policy = String(
        display_name="Score kept",
        default="best",
        values=[
            {"display_name": "Best score of all checks", "value": "best"},
            {"display_name": "Score of the latest check", "value": "latest"},
        ],
        scope=Scope.settings,
        help="Which score counts when a learner checks their work several times",
    )
    # The lab's checks [{name, title, weight}] from the catalog, as of the unit's last save in
    # Studio: what makes the unit scored, and its points when nobody has checked yet.
    checks = List(default=[], scope=Scope.settings)

    # Written only from the launch answer for this user; checked against `lab_key`.
    lab_id = String(default="", scope=Scope.user_state)
    lab_key = String(default="", scope=Scope.user_state)
    # The score that counts ({earned, possible, run, finishedAt}; {}: none yet), and the finished
    # runs handled (newest last): published, or finished before this learner state first used
    # the checks (`checks_opened`), as after the course team deleted the learner's state.
    kept_score = Dict(default={}, scope=Scope.user_state)
    published_runs = List(default=[], scope=Scope.user_state)
    checks_opened = Boolean(default=False, scope=Scope.user_state)

    # ----- scoring (ScorableXBlockMixin) -----

    @property
    def has_score(self) -> bool:  # type: ignore[override]
        """Scored only when the unit's lab has checks: a unit without is ungraded, as before."""
        return bool(self._checks())

    def max_score(self) -> Optional[float]:
        """The raw points of the unit (the checks' total weight); None when it has no checks."""
        total = sum(check["weight"] for check in self._checks())
        return total if total > 0 else None

    def has_submitted_answer(self) -> bool:
        return bool(self.kept_score)

    def get_score(self) -> Score:
        kept = self.kept_score or {}
        if kept:
            return Score(raw_earned=float(kept["earned"]), raw_possible=float(kept["possible"]))
        return Score(raw_earned=0.0, raw_possible=float(self.max_score() or 0))

    def set_score(self, score: Score) -> None:
        kept = dict(self.kept_score or {})
        kept.update(earned=float(score.raw_earned), possible=float(score.raw_possible))
        self.kept_score = kept

    def calculate_score(self) -> Score:
        """The kept score: the orchestrator scored the runs, nothing here can score them again."""
        return self.get_score()

    # ----- views -----

    def student_view(self, context: Optional[dict] = None) -> Fragment:
        """The unit, without a call to the API: the page's script launches (a POST) when it starts."""
        data: dict = {"now": _now_ms(), "deletionWords": words.DELETION, "usageWords": words.USAGE}
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
        if data.get("launch") and self._checks():
            data["checks"] = {
                "words": words.CHECKS,
                "policy": self._policy(),
                "showResults": bool(self.show_check_results),
                "score": self._kept_view(),
            }
        fragment.add_javascript(_resource("js/lab.js"))
        fragment.initialize_js("LabXBlock", data)
        return fragment

    def author_view(self, context: Optional[dict] = None) -> Fragment:
        """Studio's unit page: what the unit holds, without launching a lab for the author."""
        what = f"Lab “{self.lab_name}”" if self.lab_name else "No lab chosen yet: edit this unit."
        checks = self._checks()
        if self.lab_name and checks:
            what += (
                f", graded by its {len(checks)} check{'s' if len(checks) != 1 else ''}"
                f" (worth {_points(self._worth())} points; the {self._policy()} score counts)."
            )
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
        elif self.lab_name and catalog:
            listed = next(lab for lab in catalog if lab["name"] == self.lab_name)
            if checks_of(listed) != self._checks():
                message = (
                    f"The checks of the lab “{self.lab_name}” changed in the catalog: save this unit"
                    " (then publish the course) to grade with them."
                )
        options = "".join(
            '<option value="{0}"{1}>{0}</option>'.format(
                html.escape(name, quote=True), " selected" if name == self.lab_name else ""
            )
            for name in names
        )
        rows = "".join(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                html.escape(str(lab["name"])),
                human_duration(lab.get("idleTimeout")),
                human_duration(lab.get("deleteAfter")),
                human_duration(lab.get("maxLifetime")),
                human_duration(lab.get("launchTimeout")),
                describe_checks(checks_of(lab)),
            )
            for lab in catalog
        )
        policies = "".join(
            '<option value="{0}"{1}>{2}</option>'.format(
                value, " selected" if value == self._policy() else "", label
            )
            for value, label in (
                ("best", "The best score of all their checks"),
                ("latest", "The score of their latest check"),
            )
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
                weight="" if self.weight is None else _points(self.weight),
                checks_points=_points(self.max_score() or 0),
                grade_policy_options_html=policies,
                show_check_results_html=" checked" if self.show_check_results else "",
                show_hints_html=" checked" if self.show_hints else "",
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

    # ----- graded checks: the learner's own lab only -----

    @XBlock.json_handler
    def check_state(self, data: dict, suffix: str = "") -> dict:
        """What the page shows of the checks when it opens, after publishing what was missed.

        The page calls it first (after its launch): the learner's latest runs are listed, and
        every finished run whose grade was never published (the tab was closed before it
        finished) is published now. Never launches: without a lab of the learner's, no runs.
        """
        self._require_checks()
        self._throttle("reads")

        def read() -> dict:
            lab_id = self._stored_lab_id()
            if not lab_id:
                return self._check_answer(None)
            try:
                runs = self._service().check_runs(lab_id, limit=RECONCILE_RUNS)
            except LabServiceError as err:
                if isinstance(err, NotConfigured):
                    raise
                # The kept score still shows; the next opening publishes what this one could not.
                log.info("check runs of %s cannot be listed: %s", lab_id, err.detail or err.message)
                return self._check_answer(None)
            runs = [run for run in runs if isinstance(run, dict) and run.get("labId") in (None, lab_id)]
            if not self.checks_opened:
                # This learner state's first look at the checks (a new one, or the course team
                # deleted the old one, grade and all): runs that finished before are not graded
                # again. From now on, every run that finishes is.
                finished = [run for run in runs[::-1] if run.get("state") in GRADED_STATES]
                self.published_runs = [str(run["id"]) for run in finished if run.get("id")][-PUBLISHED_KEPT:]
                self.checks_opened = True
                self.save()
            self._settle(reversed(runs))  # oldest first: the latest one is the latest kept
            return self._check_answer(runs[0] if runs else None)

        return self._json(read)

    @XBlock.json_handler
    def check_start(self, data: dict, suffix: str = "") -> dict:
        """"Check my work": starts a run of the lab's checks (or answers with the one running).

        Never launches: without a lab of the learner's, a 404; unless it is ready, the API's 409
        in words.
        """
        self._require_checks()
        self._throttle("actions")

        def start() -> dict:
            lab_id = self._existing_lab_id()
            run = self._service().start_checks(lab_id)
            self.checks_opened = True
            self._settle([run])
            return self._check_answer(run)

        return self._json(start)

    @XBlock.json_handler
    def check_poll(self, data: dict, suffix: str = "") -> dict:
        """The run `id` of the learner's lab, after at most `wait` seconds while it is running.

        The handler that sees the run finish publishes its grade (once per run).
        """
        self._require_checks()
        data = data if isinstance(data, dict) else {}
        check_id = str(data.get("id") or "")
        if not CHECK_ID.match(check_id):
            raise HandlerError(400, words.BAD_REQUEST)
        self._throttle("reads")
        wait = _int(data.get("wait"), 0, MAX_WAIT)

        def poll() -> dict:
            lab_id = self._existing_lab_id()
            run = self._service().check_run(lab_id, check_id, wait=wait)
            if run.get("labId") not in (None, lab_id) or run.get("id") != check_id:
                raise LabServiceError(words.CHECK_NOT_FOUND, 404)
            self.checks_opened = True
            self._settle([run])
            return self._check_answer(run)

        return self._json(poll)

    # ----- Studio -----

    @XBlock.json_handler
    def studio_submit(self, data: dict, suffix: str = "") -> dict:
        """Saves the Studio settings, and the lab's checks as the catalog lists them now.

        The catalog is read on every save (a lab's checks decide the unit's points); when it
        cannot be read, a save that keeps the lab keeps the checks the unit had.
        """
        data = data if isinstance(data, dict) else {}
        display_name = str(data.get("display_name") or "").strip()
        lab_name = str(data.get("lab_name") or "").strip()
        if not display_name or len(display_name) > 255:
            raise JsonHandlerError(400, "The display name must have 1 to 255 characters.")
        changed = lab_name != self.lab_name or not lab_name
        try:
            catalog: Optional[list] = self._service().catalog()
        except LabServiceError as err:
            if changed:
                raise JsonHandlerError(503, f"The lab name cannot be checked: {err.message}")
            catalog = None
        listed = None
        if catalog is not None:
            names = [str(lab["name"]) for lab in catalog]
            listed = next((lab for lab in catalog if lab["name"] == lab_name), None)
            if changed and listed is None:
                raise JsonHandlerError(
                    400,
                    f"“{lab_name}” is not a lab of the catalog (it has: {', '.join(names) or 'none'}).",
                )
        weight = self.weight
        if "weight" in data:
            weight = _weight(data["weight"])
        policy = data.get("grade_policy", self._policy())
        if policy not in GRADE_POLICIES:
            raise JsonHandlerError(400, "The score kept must be “best” or “latest”.")
        self.display_name = display_name
        self.lab_name = lab_name
        if listed is not None:
            self.checks = checks_of(listed)
        self.weight = weight
        self.grade_policy = policy
        for name in ("terminal_enabled", "terminal_read_only", "show_hints", "show_check_results"):
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
        # The learner's lab time: never when the window started, nor what the API adds later.
        shown["usage"] = usage_of(lab.get("usage"))
        return {"lab": shown, "now": _now_ms()}

    def _checks(self) -> list:
        """The unit's checks, well-formed (the field is only ever written by studio_submit)."""
        return checks_of({"checks": self.checks})

    def _policy(self) -> str:
        return self.grade_policy if self.grade_policy in GRADE_POLICIES else "best"

    def _worth(self) -> float:
        """Points of the unit in the course grade: its weight, else the checks' total weight."""
        return self.weight if self.weight is not None else (self.max_score() or 0)

    def _require_checks(self) -> None:
        if not self.lab_name or not self._checks():
            raise HandlerError(404, words.NO_CHECKS_IN_UNIT)

    def _settle(self, runs: Any) -> None:
        """Grades the finished runs not published yet (oldest first), then publishes once.

        Best: a run replaces the kept score when its share of the points is higher. Latest: the
        run that finished last is kept. Either way the run is recorded as published, so neither
        the page nor the next opening grades it twice; a kept score that did not change is not
        published again (it would undo a grade the course team changed meanwhile).
        """
        published = list(self.published_runs or [])
        kept = dict(self.kept_score or {})
        changed = False
        for run in runs:
            run_id = str(run.get("id") or "")
            if run.get("state") not in GRADED_STATES or not run_id or run_id in published:
                continue
            published.append(run_id)
            earned, possible = _score_of(run)
            if possible is None or possible <= 0:
                continue
            if self._policy() == "latest":
                better = not kept or not _before(run.get("finishedAt"), kept.get("finishedAt"))
            else:
                better = not kept or earned / possible > _share(kept)
            if better:
                kept = {
                    "earned": earned,
                    "possible": possible,
                    "run": run_id,
                    "finishedAt": run.get("finishedAt"),
                }
                changed = True
        if published == list(self.published_runs or []):
            return
        self.published_runs = published[-PUBLISHED_KEPT:]
        if changed:
            self.kept_score = kept
            self.runtime.publish(self, "grade", {"value": kept["earned"], "max_value": kept["possible"]})
        # Saved at once: the grade is out, so its run must not be graded again.
        self.save()

    def _kept_view(self) -> Optional[dict]:
        kept = self.kept_score or {}
        return {"earned": kept["earned"], "possible": kept["possible"]} if kept else None

    def _run_view(self, run: Optional[dict]) -> Optional[dict]:
        """A run as the page shows it: no staff reason, results and hints as Studio says."""
        if not run:
            return None
        state = run.get("state")
        view: dict = {
            "id": run.get("id"),
            "state": state,
            "startedAt": run.get("startedAt"),
            "finishedAt": run.get("finishedAt"),
        }
        if state in GRADED_STATES:
            earned, possible = _score_of(run)
            view["score"] = {"earned": earned, "possible": possible}
            results = [r for r in run.get("results") or [] if isinstance(r, dict)]
            if self.show_check_results:  # else only the score: not even how many passed
                view["passedCount"] = sum(1 for r in results if r.get("passed"))
                view["total"] = len(results)
                view["results"] = [
                    {
                        "name": r.get("name"),
                        "title": r.get("title") or r.get("name"),
                        "passed": bool(r.get("passed")),
                        "timedOut": bool(r.get("timedOut")),
                        "hint": (r.get("hint") or None) if self.show_hints and not r.get("passed") else None,
                    }
                    for r in results
                ]
        elif state == "error":
            view["message"] = words.CHECK_COULD_NOT_RUN
        return view

    def _check_answer(self, run: Optional[dict]) -> dict:
        """What every check handler answers: the run (or None) and the score that counts."""
        return {"run": self._run_view(run), "score": self._kept_view(), "now": _now_ms()}

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


def checks_of(lab: Any) -> list:
    """A catalog lab's checks as the unit keeps them: [{name, title, weight}], well-formed only."""
    found = []
    for check in (lab.get("checks") if isinstance(lab, dict) else None) or []:
        if not isinstance(check, dict) or not check.get("name"):
            continue
        try:
            weight = float(check.get("weight", 1))
        except (TypeError, ValueError):
            continue
        if not math.isfinite(weight) or weight < 0:
            continue
        name = str(check["name"])
        found.append({"name": name, "title": str(check.get("title") or name), "weight": weight})
    return found


def describe_checks(checks: list) -> str:
    """Studio's catalog table cell: each check's title and weight, HTML-escaped."""
    if not checks:
        return "none (not graded)"
    return html.escape(
        "; ".join(f"{check['title']} ({_points(check['weight'])})" for check in checks)
    )


def _points(value: float) -> str:
    return f"{value:g}"


def _score_of(run: dict) -> "tuple[float, Optional[float]]":
    score = run.get("score") if isinstance(run.get("score"), dict) else {}
    try:
        earned = float(score.get("earned") or 0)
        possible = float(score["possible"]) if score.get("possible") is not None else None
    except (TypeError, ValueError):
        return 0.0, None
    if possible is not None and not (math.isfinite(possible) and math.isfinite(earned)):
        return 0.0, None
    return earned, possible


def _share(kept: dict) -> float:
    """The kept score's share of its points (-1 for none: any run's score is better)."""
    try:
        possible = float(kept.get("possible") or 0)
        return float(kept.get("earned") or 0) / possible if possible > 0 else -1.0
    except (TypeError, ValueError):
        return -1.0


def _before(finished_at: Any, other: Any) -> bool:
    """Whether ISO time `finished_at` is strictly before `other` (unknown: not before)."""
    a, b = _time(finished_at), _time(other)
    try:
        return a is not None and b is not None and a < b
    except TypeError:  # one with a time zone, one without
        return False


def _time(value: Any) -> Optional[datetime]:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _weight(value: Any) -> Optional[float]:
    """Studio's weight: empty for none, else a number of points from 0 to 10000."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        weight = float(value)
    except (TypeError, ValueError):
        weight = float("nan")
    if isinstance(value, bool) or not math.isfinite(weight) or not 0 <= weight <= 10000:
        raise JsonHandlerError(400, "The weight must be a number of points from 0 to 10000, or empty.")
    return weight


def _now_ms() -> int:
    return int(time.time() * 1000)


def _int(value: Any, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return low
