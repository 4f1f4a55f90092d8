"""Issue 15, item 9 (XBlock side): one learner cannot make every learner's launch a 429.

Every XBlock call reaches the API with the LMS's one service token, so the XBlock limits each
user (a learner in a loop is told to slow down; the others are not affected) and passes the
API's own 429 on to the page with its Retry-After, in words.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

from conftest import Unit, call
from fake_orchestrator import FakeOrchestrator


def someone() -> str:
    return f"anon-{uuid.uuid4().hex[:12]}"


def test_a_learner_in_a_loop_is_slowed_down_and_nobody_else_is(settings: dict, orchestrator: FakeOrchestrator):
    unit = Unit({**settings, "ACTIONS_PER_MINUTE": 5})
    looping = unit.block_for("student-loop", someone())
    answers = [call(looping, "launch", {}) for _ in range(40)]

    assert [status for status, _ in answers[:5]] == [200] * 5
    refused = answers[5:]
    assert {status for status, _ in refused} == {429}
    message = refused[0][1]["error"]
    assert "slow down" in message.lower() or "too often" in message.lower(), message
    assert 1 <= refused[0][1]["retryAfter"] <= 120
    assert len(orchestrator.calls("POST", "/v1/labs")) == 5, "refused calls reached the API"

    # A 429 says when to come back (the header, for the page's retry).
    request_status, response = _raw(looping, "launch")
    assert request_status == 429 and 1 <= int(response.headers["Retry-After"]) <= 120

    # Another learner of the same unit launches at once.
    other = unit.block_for("student-other", someone())
    assert call(other, "launch", {})[0] == 200
    # Resets and token renewals share the learner's budget: a loop cannot switch to them.
    assert call(looping, "reset", {"confirm": True})[0] == 429
    assert call(looping, "heartbeat_token", {})[0] == 429
    assert call(looping, "terminal_token", {})[0] == 429


def test_reads_are_limited_per_learner_too(settings: dict, orchestrator: FakeOrchestrator):
    unit = Unit({**settings, "READS_PER_MINUTE": 10})
    block = unit.block_for("student-reader", someone())
    call(block, "launch", {})
    statuses = [call(block, "status", {"wait": 0})[0] for _ in range(30)]
    assert statuses[:10] == [200] * 10 and set(statuses[10:]) == {429}
    assert len(orchestrator.calls("GET", "/v1/labs/")) == 10
    assert call(block, "private_key", method="GET")[0] == 429


def test_default_limits_stop_a_loop(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("student-defaults", someone())
    statuses = [call(block, "launch", {})[0] for _ in range(100)]
    assert statuses[0] == 200 and statuses[-1] == 429
    assert len(orchestrator.calls("POST", "/v1/labs")) <= 20


def test_the_apis_429_reaches_the_page_in_words_with_its_retry_after(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("student-1", someone())
    orchestrator.fail(
        "POST", "/v1/labs", 429, "rate_limited", "too many requests for this token",
        headers={"Retry-After": "7"},
    )
    status, response = _raw(block, "launch")
    assert status == 429
    assert response.headers["Retry-After"] == "7"
    answer = response.json
    assert answer["retryAfter"] == 7 and "7 seconds" in answer["error"]
    assert "token" not in answer["error"]

    # An HTTP-date Retry-After, or none at all, still gives the page a wait in seconds.
    orchestrator.faults.clear()
    orchestrator.fail("POST", "/v1/labs", 429, "rate_limited", "too many requests for this token")
    status, answer = call(block, "launch", {})
    assert status == 429 and answer["retryAfter"] >= 1


def test_djangos_cache_shares_the_limit_between_lms_processes(tmp_path):
    """Two LMS processes with one (file-based) Django cache: together they allow the limit."""
    script = textwrap.dedent(
        f"""
        import django, json
        from django.conf import settings
        settings.configure(CACHES={{"default": {{
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": {str(tmp_path / "cache")!r}}}}})
        django.setup()
        from openedx_lab_xblock.throttle import Throttle
        throttle = Throttle("actions", per_minute=5)
        print(json.dumps([throttle.take("user-7") for _ in range(4)]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    first, second = (
        json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, env=env).stdout)
        for _ in range(2)
    )
    assert first == [None] * 4
    assert second[0] is None and all(isinstance(wait, int) and wait >= 1 for wait in second[1:])


def _raw(block, handler: str):
    from webob import Request

    request = Request.blank("/", method="POST")
    request.body = b"{}"
    request.content_type = "application/json"
    response = block.runtime.handle(block, handler, request)
    return response.status_code, response
