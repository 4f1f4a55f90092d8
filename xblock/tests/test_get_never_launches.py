"""Issue 15, item 15: no GET launches a lab, and rendering the unit does not either.

A same-site `<img src=".../handler/private_key">` (or any GET the browser makes without the
learner asking) must not start a lab for whoever views the page: only POSTs from the page's
script, which the learner's opening or click drives, change a lab.
"""

from __future__ import annotations

from typing import List

import pytest

from conftest import COURSE, Unit, call
from fake_orchestrator import FakeOrchestrator
from openedx_lab_xblock import LabXBlock


def handler_names() -> List[str]:
    return sorted(
        name
        for name in dir(LabXBlock)
        if getattr(getattr(LabXBlock, name, None), "_is_xblock_handler", False)
    )


def test_rendering_the_unit_launches_nothing_the_pages_post_does(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("student-1", "anon-aaa")
    init = block.student_view({}).json_init_args
    assert orchestrator.requests == [], "rendering the unit called the API"
    assert "message" not in init and init.get("launch") is True

    # The page's script launches with a POST when it starts.
    status, answer = call(block, "launch", {})
    assert status == 200 and answer["lab"]["state"] == "launching"
    (launch,) = orchestrator.calls("POST", "/v1/labs")
    assert launch.body == {"courseId": COURSE, "learnerId": "anon-aaa", "lab": "linux-basics"}


@pytest.mark.parametrize("has_lab", [False, True], ids=["no-lab-yet", "lab-launched"])
def test_no_handler_changes_a_lab_on_a_get(unit: Unit, orchestrator: FakeOrchestrator, has_lab: bool):
    names = handler_names()
    assert {"launch", "reset", "status", "connection", "private_key", "terminal_token"} <= set(names)
    block = unit.block_for("student-1", "anon-aaa")
    if has_lab:
        assert call(block, "launch", {})[0] == 200
        next(iter(orchestrator.labs.values()))["state"] = "ready"
    orchestrator.requests.clear()

    for name in names:
        call(block, name, {"confirm": True}, method="GET")
        call(block, name, method="GET")

    assert orchestrator.calls("POST") == [], [r.path for r in orchestrator.calls("POST")]
    assert len(orchestrator.labs) == int(has_lab)


def test_the_key_download_reads_the_learners_lab_and_never_launches_one(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("student-1", "anon-aaa")
    status, response = call(block, "private_key", method="GET")
    assert status == 404 and not orchestrator.requests
    call(block, "launch", {})
    next(iter(orchestrator.labs.values()))["state"] = "ready"
    status, response = call(block, "private_key", method="GET")
    assert status == 200 and response.text == "KEY-OF-anon-aaa\n"
