"""The lab orchestrator's HTTP API (v1), as the XBlock's server side uses it (service token)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Mapping, Optional, Sequence
from urllib.parse import quote

import requests

from . import words

log = logging.getLogger(__name__)

#: Seconds to connect and to wait for an answer (a long-poll adds its own wait on top).
DEFAULT_TIMEOUT = 10.0
#: A 429 without a usable Retry-After (a proxy's, say): wait this long.
DEFAULT_RETRY_AFTER = 10
MAX_RETRY_AFTER = 3600
#: The API's `error.code` for a launch refused because the learner's lab time is used up (a 403,
#: like a refused service token, which keeps the code "forbidden").
USAGE_LIMIT = "usage_limit"
#: What the API does once a learner's lab time is used up: only say so, refuse launches and
#: resumes, or also pause the lab.
BREACHES = ("warn", "block", "suspend")


class LabServiceError(Exception):
    """The lab service answered with an error, or could not be asked at all.

    `message` is for the learner (words.py); `detail` is the API's own message, for logs;
    `details` the API's `error.details` (what some codes need, such as a usage limit's numbers).
    """

    def __init__(
        self,
        message: str,
        status: Optional[int] = None,
        code: Optional[str] = None,
        detail: Optional[str] = None,
        retry_after: Optional[int] = None,
        details: Optional[dict] = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        self.details = details


class NotConfigured(LabServiceError):
    """XBLOCK_SETTINGS["LabXBlock"] lacks what the XBlock needs."""


class UsageLimitReached(LabServiceError):
    """A launch (or a resume) refused because the learner's lab time is used up (403 `usage_limit`).

    `details` holds the usage ({usedSeconds, limitSeconds, remainingSeconds, breach, exceeded,
    window, windowStart}) the page shows.
    """


class Unavailable(LabServiceError):
    """The lab service is unreachable, timed out, or says a dependency of its own is down."""


@dataclass(frozen=True)
class Settings:
    """XBLOCK_SETTINGS["LabXBlock"]: API_URL, SERVICE_TOKEN, optional PUBLIC_API_URL and TIMEOUT."""

    api_url: str
    service_token: str
    #: Where learners' browsers send heartbeats and open terminals (the API as they reach it).
    public_api_url: str
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_bucket(cls, bucket: Optional[Mapping[str, Any]]) -> "Settings":
        bucket = bucket or {}
        missing = [key for key in ("API_URL", "SERVICE_TOKEN") if not bucket.get(key)]
        if missing:
            raise NotConfigured(
                "The lab service is not configured: set "
                + " and ".join(f'XBLOCK_SETTINGS["LabXBlock"]["{key}"]' for key in missing)
                + " in the LMS and Studio settings."
            )
        api_url = str(bucket["API_URL"]).rstrip("/")
        return cls(
            api_url=api_url,
            service_token=str(bucket["SERVICE_TOKEN"]),
            public_api_url=str(bucket.get("PUBLIC_API_URL") or api_url).rstrip("/"),
            timeout=float(bucket.get("TIMEOUT") or DEFAULT_TIMEOUT),
        )


class LabService:
    """One method per API call; every error is a LabServiceError with a message for people."""

    def __init__(self, settings: Settings, session: Optional[requests.Session] = None):
        self.settings = settings
        self.session = session or requests.Session()

    def catalog(self) -> list:
        return self._call("catalog", "GET", "/v1/catalog")["labs"]

    def launch(self, course_id: str, learner_id: str, lab: str) -> dict:
        body = {"courseId": course_id, "learnerId": learner_id, "lab": lab}
        return self._call("launch", "POST", "/v1/labs", json=body)

    def lab(self, lab_id: str, wait: int = 0) -> dict:
        params = {"wait": str(wait)} if wait > 0 else None
        return self._call("status", "GET", f"/v1/labs/{lab_id}", params=params, extra_timeout=wait)

    def connection(self, lab_id: str) -> dict:
        return self._call("connection", "GET", f"/v1/labs/{lab_id}/connection")

    def reset(self, lab_id: str) -> dict:
        return self._call("reset", "POST", f"/v1/labs/{lab_id}/reset")

    def terminal_token(self, lab_id: str, read_only: bool = False) -> dict:
        """{token, expiresAt, url}: a short-lived token for the lab's terminal WebSocket at `url`."""
        body = {"readOnly": True} if read_only else None
        return self._call("terminal", "POST", f"/v1/labs/{lab_id}/terminal-token", json=body)

    # ----- graded checks (issue 17) -----

    def start_checks(self, lab_id: str, names: Optional[Sequence[str]] = None) -> dict:
        """A CheckRun `running` (or the run in progress: one at a time per lab); 409 unless ready."""
        body = {"names": list(names)} if names else {}
        return self._call("check", "POST", f"/v1/labs/{lab_id}/checks", json=body)

    def check_run(self, lab_id: str, check_id: str, wait: int = 0) -> dict:
        """A CheckRun, after at most `wait` seconds while it is `running`."""
        params = {"wait": str(wait)} if wait > 0 else None
        path = f"/v1/labs/{lab_id}/checks/{quote(check_id, safe='')}"
        return self._call("check_poll", "GET", path, params=params, extra_timeout=wait)

    def check_runs(self, lab_id: str, limit: int = 20) -> list:
        """The lab's latest CheckRuns, newest first."""
        params = {"limit": str(limit)}
        return self._call("check_list", "GET", f"/v1/labs/{lab_id}/checks", params=params)["checks"]

    def _call(
        self,
        action: str,
        method: str,
        path: str,
        json: Optional[dict] = None,
        params: Optional[dict] = None,
        extra_timeout: float = 0,
    ) -> Any:
        url = self.settings.api_url + path
        try:
            response = self.session.request(
                method,
                url,
                json=json,
                params=params,
                headers={"Authorization": f"Bearer {self.settings.service_token}"},
                timeout=(self.settings.timeout, self.settings.timeout + extra_timeout),
            )
        except requests.Timeout:
            raise Unavailable(words.TIMED_OUT)
        except requests.RequestException:
            raise Unavailable(words.UNREACHABLE)
        if response.ok:
            return response.json() if response.content else {}
        status = response.status_code
        code, detail, details = _error_of(response)
        log.info("lab service: %s %s answered %s %s: %s", method, path, status, code, detail)
        if status == 403 and code == USAGE_LIMIT:
            # The learner's own lab time, told to them: not the site's configuration (below).
            usage = usage_of(details)
            limit = usage["limitSeconds"] if usage else None
            message = words.usage_limit(limit, (details or {}).get("window"))
            raise UsageLimitReached(message, status, code, detail, details=details)
        if status in (401, 403):
            # The XBlock's own configuration, not the learner's doing: said for the course team.
            raise NotConfigured(
                f"The lab service refused the XBlock's service token ({detail}): check"
                ' XBLOCK_SETTINGS["LabXBlock"]["SERVICE_TOKEN"].',
                status,
                code,
                detail,
                details=details,
            )
        retry_after = _retry_after(response) if status == 429 else None
        message = words.api_error(status, code, details, action, retry_after)
        error_class = Unavailable if status in (502, 503, 504) else LabServiceError
        raise error_class(message, status, code, detail, retry_after, details)


def usage_of(value: Any) -> Optional[dict]:
    """A lab's `usage` (or a `usage_limit` error's details) as the page may see it.

    Only the numbers, the window, the breach and whether the time is used up: never
    `windowStart` or anything the API may add. None when absent, or without a usable limit
    (nothing could be said of it).
    """
    if not isinstance(value, dict):
        return None
    limit = _seconds(value.get("limitSeconds"))
    used = _seconds(value.get("usedSeconds"))
    remaining = _seconds(value.get("remainingSeconds"))
    if limit is None or (used is None and remaining is None):
        return None
    if used is None:
        used = max(0, limit - (remaining or 0))
    if remaining is None:
        remaining = max(0, limit - used)
    exceeded = value.get("exceeded")
    window = value.get("window")
    breach = value.get("breach")
    return {
        "usedSeconds": used,
        "limitSeconds": limit,
        "remainingSeconds": remaining,
        "breach": breach if breach in BREACHES else None,
        "exceeded": exceeded if isinstance(exceeded, bool) else remaining <= 0,
        "window": window if window == "course" or words.window_days(window) else None,
    }


def _seconds(value: Any) -> Optional[float]:
    """A count of seconds from the API: a finite number >= 0, else None (a bool is no number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _error_of(response: requests.Response) -> "tuple[Optional[str], str, Optional[dict]]":
    """The API's {error: {code, message, details}}, or the status line when the body is not that."""
    try:
        error = response.json().get("error") or {}
        details = error.get("details")
        return (
            error.get("code"),
            str(error.get("message") or response.reason),
            details if isinstance(details, dict) else None,
        )
    except (ValueError, AttributeError):
        return None, f"HTTP {response.status_code} {response.reason}", None


def _retry_after(response: requests.Response) -> int:
    """Retry-After in whole seconds (delta-seconds or an HTTP date), within sane bounds."""
    value = (response.headers.get("Retry-After") or "").strip()
    seconds: float = DEFAULT_RETRY_AFTER
    if value.isdigit():
        seconds = int(value)
    elif value:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds()
        except (TypeError, ValueError):
            pass
    return int(min(MAX_RETRY_AFTER, max(1, round(seconds))))
