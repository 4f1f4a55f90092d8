"""The XBlock's handlers against a running orchestrator API (the real stack over the emulator).

Run by the browser suite (`test/browser/`), which starts the API and passes it here as
LAB_API_URL and LAB_SERVICE_TOKEN; without them (the plain `scripts/test-xblock.sh` run) the
module is skipped. The API's test configuration has the lab `demo` (an SSH host, user
`learner`, a `password` secret, no private key).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, Callable, Dict

import pytest
import requests

from conftest import Unit, call

API_URL = os.environ.get("LAB_API_URL", "")
SERVICE_TOKEN = os.environ.get("LAB_SERVICE_TOKEN", "")
pytestmark = pytest.mark.skipif(
    not API_URL, reason="needs a running API: LAB_API_URL (run by test/browser/)"
)


def until(what: str, probe: Callable[[], Any], timeout: float = 30) -> Any:
    """Calls probe until it returns something truthy, within a deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


@pytest.fixture
def live_unit() -> Unit:
    return Unit({"API_URL": API_URL, "SERVICE_TOKEN": SERVICE_TOKEN}, lab_name="demo")


def learner() -> str:
    return f"anon-live-{uuid.uuid4().hex[:10]}"


def wait_ready(block: Any) -> Dict[str, Any]:
    def probe() -> Any:
        status, answer = call(block, "status", {"wait": 5, "known": {"state": "launching"}})
        assert status == 200, answer
        return answer if answer["lab"]["state"] == "ready" else None

    return until("lab ready", probe)


def test_the_page_launches_the_learners_lab_and_the_handlers_follow_it(live_unit: Unit) -> None:
    block = live_unit.block_for("student-1", learner())
    view = block.student_view({}).json_init_args
    assert view.get("launch") is True and not block.lab_id, "rendering launched a lab"
    status, init = call(block, "launch", {})
    assert status == 200, init
    assert init["lab"]["state"] in ("queued", "launching", "ready")
    # The browser gets the lab's heartbeat route and token, never ids of other systems.
    assert init["heartbeat"]["url"] == f"{API_URL}/v1/labs/{block.lab_id}/heartbeat"
    # (and the learner's lab time: the browser suite runs this course's demo lab under a limit)
    assert set(init["lab"]) == {"state", "progress", "error", "lastActivityAt", "suspendAt", "deleteAt", "usage"}
    assert set(init["lab"]["usage"]) == {"usedSeconds", "limitSeconds", "remainingSeconds", "breach", "exceeded", "window"}

    ready = wait_ready(block)
    assert ready["lab"]["suspendAt"]

    status, conn = call(block, "connection", {})
    assert status == 200, conn
    assert conn["protocol"] == "ssh" and conn["username"] == "learner" and conn["host"]
    assert conn["command"] == f"ssh learner@{conn['host']}"
    assert conn["privateKey"] is False and conn["secrets"]["password"]
    status, _ = call(block, "private_key", method="GET")
    assert status == 404

    # The heartbeat token the page got is accepted by the API for this lab.
    beat = requests.post(
        init["heartbeat"]["url"],
        headers={"Authorization": f"Bearer {init['heartbeat']['token']}"},
        timeout=10,
    )
    assert beat.status_code == 204, beat.text

    # After a key rotation the page asks for a fresh token: the API accepts it for this lab.
    status, fresh = call(block, "heartbeat_token", {})
    assert status == 200, fresh
    assert fresh["heartbeat"]["url"] == init["heartbeat"]["url"]
    beat = requests.post(
        fresh["heartbeat"]["url"],
        headers={"Authorization": f"Bearer {fresh['heartbeat']['token']}"},
        timeout=10,
    )
    assert beat.status_code == 204, beat.text


def test_a_terminal_token_from_the_api_for_the_learners_lab(live_unit: Unit) -> None:
    block = live_unit.block_for("student-t", learner())
    status, answer = call(block, "terminal_token", {})
    assert status == 404, answer  # no lab yet: never launched for a terminal
    call(block, "launch", {})
    wait_ready(block)
    status, answer = call(block, "terminal_token", {})
    assert status == 200, answer
    assert answer["token"] and answer["expiresAt"]
    # The API's public URL (API_URL here), as a WebSocket URL, and the lab's terminal route.
    assert answer["wsUrl"] == API_URL.replace("http://", "ws://", 1) + f"/v1/labs/{block.lab_id}/terminal"
    block.terminal_read_only = True
    block.save()
    status, answer = call(block, "terminal_token", {})
    assert status == 200 and answer["token"], answer


def test_each_learner_gets_their_own_lab(live_unit: Unit) -> None:
    one = live_unit.block_for("student-a", learner())
    two = live_unit.block_for("student-b", learner())
    assert call(one, "launch", {})[0] == 200 and call(two, "launch", {})[0] == 200
    assert one.lab_id and two.lab_id and one.lab_id != two.lab_id
    # The same learner opening the unit again resumes the same lab.
    again = live_unit.block_for("student-a", one.runtime.service(one, "user").anonymous_id)
    assert call(again, "launch", {})[0] == 200
    assert again.lab_id == one.lab_id
    # Their passwords differ: each sees only their own connection.
    wait_ready(one)
    wait_ready(two)
    assert call(one, "connection", {})[1]["secrets"] != call(two, "connection", {})[1]["secrets"]


def test_reset_needs_confirmation_then_builds_a_fresh_lab(live_unit: Unit) -> None:
    block = live_unit.block_for("student-r", learner())
    call(block, "launch", {})
    wait_ready(block)
    before = call(block, "connection", {})[1]["secrets"]["password"]
    status, answer = call(block, "reset", {})
    assert status == 400, answer
    status, answer = call(block, "reset", {"confirm": True})
    assert status == 200, answer
    assert answer["lab"]["state"] in ("resetting", "launching", "ready")

    def fresh() -> Any:
        s, a = call(block, "status", {"wait": 5, "known": {"state": "resetting"}})
        if a["lab"]["state"] != "ready":
            return None
        s, c = call(block, "connection", {})
        return s == 200 and c["secrets"]["password"] != before

    until("a fresh lab", fresh)


def test_catalog_and_studio_validation_come_from_the_api(live_unit: Unit) -> None:
    block = live_unit.block_for("author")
    status, answer = call(block, "studio_submit", {"display_name": "Lab", "lab_name": "no-such-lab"})
    assert status == 400 and "not a lab of the catalog" in answer["error"]
    status, answer = call(block, "studio_submit", {"display_name": "My lab", "lab_name": "broken"})
    assert status == 200, answer
    assert "demo" in block.studio_view({}).body_html()


def test_a_refused_service_token_is_said_in_the_unit() -> None:
    unit = Unit({"API_URL": API_URL, "SERVICE_TOKEN": "not-a-token"}, lab_name="demo")
    block = unit.block_for("student-x", learner())
    status, answer = call(block, "launch", {})
    assert status == 503 and "SERVICE_TOKEN" in answer["error"]
