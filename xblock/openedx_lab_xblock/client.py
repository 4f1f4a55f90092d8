"""The lab orchestrator's HTTP API (v1), as the XBlock's server side uses it (service token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import requests

#: Seconds to connect and to wait for an answer (a long-poll adds its own wait on top).
DEFAULT_TIMEOUT = 10.0


class LabServiceError(Exception):
    """The lab service answered with an error, or could not be asked at all."""

    def __init__(self, message: str, status: Optional[int] = None, code: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class NotConfigured(LabServiceError):
    """XBLOCK_SETTINGS["LabXBlock"] lacks what the XBlock needs."""


class Unavailable(LabServiceError):
    """The lab service is unreachable, timed out, or says a dependency of its own is down."""


@dataclass(frozen=True)
class Settings:
    """XBLOCK_SETTINGS["LabXBlock"]: API_URL, SERVICE_TOKEN, optional PUBLIC_API_URL and TIMEOUT."""

    api_url: str
    service_token: str
    #: Where learners' browsers send heartbeats (the API as the browser reaches it).
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
        return self._call("GET", "/v1/catalog")["labs"]

    def launch(self, course_id: str, learner_id: str, lab: str) -> dict:
        body = {"courseId": course_id, "learnerId": learner_id, "lab": lab}
        return self._call("POST", "/v1/labs", json=body)

    def lab(self, lab_id: str, wait: int = 0) -> dict:
        params = {"wait": str(wait)} if wait > 0 else None
        return self._call("GET", f"/v1/labs/{lab_id}", params=params, extra_timeout=wait)

    def connection(self, lab_id: str) -> dict:
        return self._call("GET", f"/v1/labs/{lab_id}/connection")

    def reset(self, lab_id: str) -> dict:
        return self._call("POST", f"/v1/labs/{lab_id}/reset")

    def _call(
        self,
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
            raise Unavailable("The lab service did not answer in time. Please try again shortly.")
        except requests.RequestException:
            raise Unavailable("The lab service is unreachable right now. Please try again shortly.")
        if response.ok:
            return response.json() if response.content else {}
        code, message = _error_of(response)
        if response.status_code in (401, 403):
            raise NotConfigured(
                f"The lab service refused the XBlock's service token ({message}): check"
                ' XBLOCK_SETTINGS["LabXBlock"]["SERVICE_TOKEN"].',
                response.status_code,
                code,
            )
        if response.status_code in (502, 503, 504):
            raise Unavailable(
                f"The lab service is unavailable right now ({message}). Please try again shortly.",
                response.status_code,
                code,
            )
        raise LabServiceError(message, response.status_code, code)


def _error_of(response: requests.Response) -> "tuple[Optional[str], str]":
    """The API's {error: {code, message}}, or the status line when the body is not that."""
    try:
        error = response.json().get("error") or {}
        return error.get("code"), str(error.get("message") or response.reason)
    except (ValueError, AttributeError):
        return None, f"HTTP {response.status_code} {response.reason}"
