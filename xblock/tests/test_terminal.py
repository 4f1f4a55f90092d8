"""Issue 16, item 3: the terminal in the browser, as the XBlock hands it out.

The page asks the XBlock (a POST) for a short-lived terminal token of the learner's own lab and
opens the API's terminal WebSocket with it, at the public API URL; Studio turns the terminal off
or makes it read-only.
"""

from __future__ import annotations

import pytest

from conftest import Unit, call
from fake_orchestrator import FakeOrchestrator
from openedx_lab_xblock import words
from openedx_lab_xblock.block import websocket_url


def ready_lab(unit: Unit, orchestrator: FakeOrchestrator, user: str, learner: str):
    block = unit.block_for(user, learner)
    assert call(block, "launch", {})[0] == 200
    lab = next(lab for lab in orchestrator.labs.values() if lab["learnerId"] == learner)
    lab["state"] = "ready"
    return block, lab


def token_requests(orchestrator: FakeOrchestrator):
    return [r for r in orchestrator.calls("POST", "/v1/labs/") if r.path.endswith("/terminal-token")]


def test_a_learner_gets_a_terminal_for_their_own_lab_only(unit: Unit, orchestrator: FakeOrchestrator):
    alice, alices = ready_lab(unit, orchestrator, "student-1", "anon-alice")
    bob, bobs = ready_lab(unit, orchestrator, "student-2", "anon-bobby-b")
    orchestrator.requests.clear()

    # Bob's page names Alice's lab: he still gets a token for his own lab only.
    status, answer = call(bob, "terminal_token", {"labId": alices["id"], "learnerId": "anon-alice"})
    assert status == 200, answer
    assert answer == {
        "token": f"tt1.{bobs['id']}.rw.sig",
        "expiresAt": "2026-01-01T00:01:00.000Z",
        # The public API URL (https://labs.example.org/ in the settings), as a WebSocket URL.
        "wsUrl": f"wss://labs.example.org/v1/labs/{bobs['id']}/terminal",
    }
    (request,) = token_requests(orchestrator)
    assert request.path == f"/v1/labs/{bobs['id']}/terminal-token"
    assert request.body is None, "readOnly is sent only for a read-only unit"
    assert alices["id"] not in repr(answer)
    assert not orchestrator.calls("POST", "/v1/labs/" + alices["id"])


def test_the_page_gets_the_terminal_with_the_unit(unit: Unit, orchestrator: FakeOrchestrator):
    fragment = unit.block_for("student-1", "anon-aaa").student_view({})
    init = fragment.json_init_args
    assert init["terminal"] == {"readOnly": False, "words": words.TERMINAL}
    page = repr(fragment.to_dict())
    # The bundle and its stylesheet are in the installed package (not only in the source tree).
    assert "labs.terminal.v1" in page and ".xterm-viewport" in page
    assert orchestrator.requests == [], "rendering the unit called the API"


def test_no_token_and_no_launch_without_a_ready_lab(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("student-1", "anon-aaa")
    status, answer = call(block, "terminal_token", {})
    assert status == 404 and answer["error"] == words.NO_LAB_YET
    assert orchestrator.requests == [], "a terminal token launched a lab"

    call(block, "launch", {})  # launching: not ready yet
    orchestrator.requests.clear()
    status, answer = call(block, "terminal_token", {})
    assert status == 409 and answer["error"] == words.TERMINAL_NOT_READY
    assert [r.path.rsplit("/", 1)[-1] for r in orchestrator.calls("POST")] == ["terminal-token"]


def test_a_unit_with_the_terminal_off_refuses_and_ships_no_terminal(unit: Unit, orchestrator: FakeOrchestrator):
    block, _ = ready_lab(unit, orchestrator, "student-1", "anon-aaa")
    block.terminal_enabled = False
    block.save()
    orchestrator.requests.clear()

    status, answer = call(block, "terminal_token", {})
    assert status == 403 and answer["error"] == words.TERMINAL_OFF
    assert orchestrator.requests == []
    fragment = block.student_view({})
    assert "terminal" not in fragment.json_init_args
    page = repr(fragment.to_dict())
    assert "labs.terminal.v1" not in page and ".xterm-viewport" not in page


def test_a_read_only_unit_asks_for_a_read_only_token(unit: Unit, orchestrator: FakeOrchestrator):
    block, lab = ready_lab(unit, orchestrator, "student-1", "anon-aaa")
    block.terminal_read_only = True
    block.save()
    orchestrator.requests.clear()

    status, answer = call(block, "terminal_token", {"readOnly": False})
    assert status == 200 and answer["token"] == f"tt1.{lab['id']}.ro.sig"
    (request,) = token_requests(orchestrator)
    assert request.body == {"readOnly": True}
    assert block.student_view({}).json_init_args["terminal"]["readOnly"] is True


def test_terminal_tokens_share_the_learners_budget_of_actions(settings: dict, orchestrator: FakeOrchestrator):
    unit = Unit({**settings, "ACTIONS_PER_MINUTE": 4})
    block, _ = ready_lab(unit, orchestrator, "student-loop", "anon-loop")  # one action
    orchestrator.requests.clear()
    answers = [call(block, "terminal_token", {}) for _ in range(10)]
    assert [status for status, _ in answers] == [200] * 3 + [429] * 7
    assert 1 <= answers[-1][1]["retryAfter"] <= 120
    assert len(token_requests(orchestrator)) == 3, "refused calls reached the API"
    assert call(block, "launch", {})[0] == 429


def test_the_apis_429_reaches_the_page_with_its_wait(unit: Unit, orchestrator: FakeOrchestrator):
    block, _ = ready_lab(unit, orchestrator, "student-1", "anon-aaa")
    orchestrator.fail("POST", "/v1/labs/", 429, "rate_limited", "too many terminal tokens", headers={"Retry-After": "9"})
    status, answer = call(block, "terminal_token", {})
    assert status == 429 and answer["retryAfter"] == 9 and "9 seconds" in answer["error"]


@pytest.mark.parametrize(
    "public, path, expected",
    [
        ("https://labs.example.org", "/v1/labs/lab_x/terminal", "wss://labs.example.org/v1/labs/lab_x/terminal"),
        ("http://127.0.0.1:8080", "/v1/labs/lab_x/terminal", "ws://127.0.0.1:8080/v1/labs/lab_x/terminal"),
        ("https://example.org/labs-api", "/v1/labs/lab_x/terminal", "wss://example.org/labs-api/v1/labs/lab_x/terminal"),
        ("https://labs.example.org", "https://term.example.org/v1/labs/lab_x/terminal", "wss://term.example.org/v1/labs/lab_x/terminal"),
    ],
)
def test_websocket_urls(public: str, path: str, expected: str):
    assert websocket_url(public, path) == expected


def test_studio_turns_the_terminal_off_and_on_and_read_only(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("author", "anon-author")
    html = block.runtime.render(block, "studio_view").body_html()
    assert 'name="terminal_enabled" type="checkbox" checked>' in html
    assert 'name="terminal_read_only" type="checkbox">' in html

    base = {"display_name": "Lab", "lab_name": "linux-basics"}
    status, _ = call(block, "studio_submit", {**base, "terminal_enabled": False, "terminal_read_only": True})
    assert status == 200
    learner = unit.block_for("student-9", "anon-9")
    assert (learner.terminal_enabled, learner.terminal_read_only) == (False, True)
    # An editor that sends no terminal settings leaves them as they are.
    status, _ = call(block, "studio_submit", base)
    assert status == 200 and (block.terminal_enabled, block.terminal_read_only) == (False, True)
    html = block.runtime.render(block, "studio_view").body_html()
    assert 'name="terminal_enabled" type="checkbox">' in html
    assert 'name="terminal_read_only" type="checkbox" checked>' in html
