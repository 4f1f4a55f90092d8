"""Issue 15, item 14: learners see learner words, never Heat's or the API's raw reasons.

Heat's reason for a failed stack names project ids, hosts and quota details; the API's messages
name lab ids, states and dependencies. Staff read them in labctl and Temporal UI; the learner's
page gets plain words for each error code.
"""

from __future__ import annotations

import re

import pytest

from conftest import Unit, call
from fake_orchestrator import FakeOrchestrator

#: What a raw reason may hold that a learner must never see.
RAW = re.compile(r"3f2a9c|compute-7|10\.20\.|project|Quota exceeded|cores|stack|Heat|lab_[a-z2-7]{6}|mongo|temporal", re.I)
HEAT_REASON = (
    "Resource CREATE failed: Forbidden: resources.server: Quota exceeded for cores: Requested 4,"
    " but already used 20 of 20 cores in project 3f2a9c11d0 (HTTP 403) on compute-7.cloud.internal"
    " 10.20.0.7"
)
LAB_CODES = [
    "create_failed",
    "launch_timeout",
    "quota",
    "no_provider",
    "suspend_failed",
    "resume_failed",
    "heat_error",
    "bad_template",
    "unknown_lab",
    "some_code_added_later",
]


def launched(unit: Unit, orchestrator: FakeOrchestrator, learner: str = "anon-aaa"):
    block = unit.block_for("student-1", learner)
    assert call(block, "launch", {})[0] == 200
    return block, next(lab for lab in orchestrator.labs.values() if lab["learnerId"] == learner)


@pytest.mark.parametrize("code", LAB_CODES)
def test_a_failed_labs_reason_is_said_in_learner_words(unit: Unit, orchestrator: FakeOrchestrator, code: str):
    block, lab = launched(unit, orchestrator)
    lab.update(state="failed", error={"code": code, "message": HEAT_REASON})

    for status, answer in (call(block, "status", {"wait": 0}), call(block, "launch", {})):
        assert status == 200
        error = answer["lab"]["error"]
        assert error["code"] == code
        assert error["message"] and not RAW.search(error["message"]), error["message"]
        assert HEAT_REASON not in repr(answer)


def test_different_failures_read_differently(unit: Unit, orchestrator: FakeOrchestrator):
    block, lab = launched(unit, orchestrator)
    said = {}
    for code in ("quota", "launch_timeout", "create_failed", "bad_template"):
        lab.update(state="failed", error={"code": code, "message": HEAT_REASON})
        said[code] = call(block, "status", {"wait": 0})[1]["lab"]["error"]["message"]
    assert len(set(said.values())) == len(said), said
    assert "course team" in said["bad_template"].lower()


@pytest.mark.parametrize(
    "method, path, status, code, message, details, handler, data, expected",
    [
        ("POST", "/v1/labs/", 409, "invalid_state", "cannot reset lab lab_abcdefgh: it is launching (stack lab-x-g1)",
         {"action": "reset"}, "reset", {"confirm": True}, "reset"),
        ("POST", "/v1/labs/", 409, "invalid_state", "cannot reset lab lab_abcdefgh: it is deleted",
         {"action": "reset", "state": "deleted"}, "reset", {"confirm": True}, "deleted"),
        ("GET", "/v1/labs/", 409, "invalid_state", "lab lab_abcdefgh is launching, not ready",
         {"state": "launching"}, "connection", {}, "not ready"),
        ("POST", "/v1/labs", 422, "unknown_lab", 'no lab named "linux-basics" in the catalog',
         {"field": "lab", "in": "body"}, "launch", {}, "course team"),
        ("GET", "/v1/labs/", 500, "secret_unreadable", 'secret "password" cannot be decrypted',
         None, "connection", {}, "try again"),
        ("POST", "/v1/labs", 500, "internal", "internal error", None, "launch", {}, "try again"),
        ("POST", "/v1/labs", 503, "unavailable", "mongodb is unavailable (read lab)",
         None, "launch", {}, "unavailable"),
        ("POST", "/v1/labs/", 400, "invalid_input", "params.id: not a lab id", None, "reset", {"confirm": True}, "reload"),
    ],
)
def test_the_apis_errors_are_said_in_learner_words(
    unit: Unit, orchestrator: FakeOrchestrator, method, path, status, code, message, details, handler, data, expected
):
    block, lab = launched(unit, orchestrator)
    lab["state"] = "ready"
    fault = {"details": details} if details is not None else {}
    orchestrator.fail(method, path, status, code, message, **fault)

    answered, answer = call(block, handler, data)
    assert answered == status
    assert expected in answer["error"].lower(), answer["error"]
    assert message not in answer["error"] and not RAW.search(answer["error"]), answer["error"]


def test_the_key_download_says_what_went_wrong_in_words(unit: Unit, orchestrator: FakeOrchestrator):
    block, lab = launched(unit, orchestrator)
    lab["state"] = "ready"
    orchestrator.fail("GET", "/v1/labs/", 500, "secret_unreadable", 'secret "private_key" cannot be decrypted')
    status, response = call(block, "private_key", method="GET")
    assert status == 500 and "decrypted" not in response.text and response.text
