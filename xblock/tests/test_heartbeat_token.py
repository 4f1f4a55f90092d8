"""Issue 15, item 10 (XBlock side): a fresh heartbeat token for the learner's own lab.

A key rotation that drops the old key makes the API refuse the page's heartbeat token (401);
the page then asks the XBlock for a fresh one instead of stopping for good.
"""

from __future__ import annotations

from conftest import Unit, call
from fake_orchestrator import FakeOrchestrator


def lab_of(orchestrator: FakeOrchestrator, learner: str) -> dict:
    return next(lab for lab in orchestrator.labs.values() if lab["learnerId"] == learner)


def test_a_learner_gets_a_fresh_token_for_their_own_lab_only(unit: Unit, orchestrator: FakeOrchestrator):
    alice = unit.block_for("student-1", "anon-alice")
    bob = unit.block_for("student-2", "anon-bobby-b")
    _, first = call(alice, "launch", {})
    call(bob, "launch", {})
    alices = lab_of(orchestrator, "anon-alice")
    alices["state"] = "ready"
    lab_of(orchestrator, "anon-bobby-b")["state"] = "ready"

    status, answer = call(alice, "heartbeat_token", {})
    assert status == 200, answer
    fresh = answer["heartbeat"]
    assert fresh["url"] == first["heartbeat"]["url"] == f"https://labs.example.org/v1/labs/{alices['id']}/heartbeat"
    assert fresh["token"].startswith(f"hb1.{alices['id']}.") and fresh["token"] != first["heartbeat"]["token"]

    # Bob's page names Alice's lab: he still gets a token for his own lab only.
    status, answer = call(bob, "heartbeat_token", {"labId": alices["id"], "learnerId": "anon-alice"})
    assert status == 200 and alices["id"] not in repr(answer)
    assert answer["heartbeat"]["token"].startswith(f"hb1.{lab_of(orchestrator, 'anon-bobby-b')['id']}.")


def test_no_token_and_no_launch_for_a_lab_that_is_gone_or_failed_or_never_was(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("student-1", "anon-aaa")
    status, answer = call(block, "heartbeat_token", {})
    assert status in (404, 409) and answer["error"]
    assert orchestrator.calls("POST") == []

    call(block, "launch", {})
    lab = next(iter(orchestrator.labs.values()))
    for state in ("deleted", "failed"):
        lab["state"] = state
        orchestrator.requests.clear()
        status, answer = call(block, "heartbeat_token", {})
        assert status == 409 and answer["error"], (state, answer)
        assert orchestrator.calls("POST") == [], f"a {state} lab was launched for a heartbeat token"


def test_a_paused_lab_gets_its_token(unit: Unit, orchestrator: FakeOrchestrator):
    """The learner is active on the page (that is why it beats): their paused lab may resume."""
    block = unit.block_for("student-1", "anon-aaa")
    call(block, "launch", {})
    next(iter(orchestrator.labs.values()))["state"] = "suspended"
    status, answer = call(block, "heartbeat_token", {})
    assert status == 200 and answer["heartbeat"]["token"]
