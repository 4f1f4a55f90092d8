"""The learner view and handlers: each learner gets, and sees, only their own lab."""

from __future__ import annotations

from fake_orchestrator import SERVICE_TOKEN, FakeOrchestrator
from conftest import COURSE, Unit, call


def render(block) -> dict:
    fragment = block.student_view({})
    assert fragment.js_init_fn == "LabXBlock"
    return {"html": fragment.body_html(), "init": fragment.json_init_args, "fragment": fragment}


def launch(block) -> dict:
    """What the page's script does when it starts: POST the launch handler."""
    status, answer = call(block, "launch", {})
    assert status == 200, answer
    return answer


def test_the_page_launches_the_learners_lab_with_course_key_and_anonymous_id(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("student-1", "anon-aaa")
    view = render(block)
    assert view["init"]["launch"] is True
    answer = launch(block)

    (request,) = orchestrator.calls("POST", "/v1/labs")
    assert request.body == {"courseId": COURSE, "learnerId": "anon-aaa", "lab": "linux-basics"}
    assert request.headers["Authorization"] == f"Bearer {SERVICE_TOKEN}"
    assert answer["lab"]["state"] == "launching"
    assert answer["lab"]["progress"] == {"done": 0, "total": 3}
    lab_id = next(iter(orchestrator.labs))
    # Heartbeats go straight to the public API URL, with the lab's own token.
    assert answer["heartbeat"] == {
        "url": f"https://labs.example.org/v1/labs/{lab_id}/heartbeat",
        "token": f"hb1.{lab_id}.1.sig",
    }
    # What the page gets: no service token, no username or email, no stack internals.
    page = repr(view["fragment"].to_dict()) + repr(answer)
    for leaked in (SERVICE_TOKEN, "alearner", "learner@example.org", "secret-stack-name"):
        assert leaked not in page
    assert "Lab" in view["html"]
    # The static resources are in the installed package (not only in the source tree).
    assert "OpenedxLabHeartbeat" in page and "function LabXBlock" in page


def test_two_learners_get_their_own_labs_and_never_each_others_connection(unit: Unit, orchestrator: FakeOrchestrator):
    alice = unit.block_for("student-1", "anon-alice")
    bob = unit.block_for("student-2", "anon-bobby-b")
    launch(alice)
    launch(bob)
    launches = orchestrator.calls("POST", "/v1/labs")
    assert [r.body["learnerId"] for r in launches] == ["anon-alice", "anon-bobby-b"]
    assert len(orchestrator.labs) == 2
    for lab in orchestrator.labs.values():
        lab["state"] = "ready"
    alice_lab = next(l for l in orchestrator.labs.values() if l["learnerId"] == "anon-alice")

    # Bob's browser asks for Alice's lab by id: the handlers ignore it and answer with Bob's.
    status, bobs = call(bob, "connection", {"labId": alice_lab["id"], "learnerId": "anon-alice"})
    assert status == 200
    assert bobs["host"] == "10.0.0.12" and bobs["secrets"] == {"password": "pw-anon-bobby-b"}
    assert bobs["command"] == "ssh -i linux-basics-key.pem learner@10.0.0.12"
    assert bobs["privateKey"] is True and "KEY-OF" not in repr(bobs)  # the key only by download
    status, alices = call(alice, "connection", {})
    assert alices["secrets"] == {"password": "pw-anon-alice"}
    asked = [r.path for r in orchestrator.calls("GET", "/v1/labs/") if r.path.endswith("/connection")]
    assert asked == [f"/v1/labs/{lab['id']}/connection" for lab in orchestrator.labs.values()][::-1]

    status, download = call(bob, "private_key", method="GET")
    assert status == 200
    assert download.text == "KEY-OF-anon-bobby-b\n"
    assert download.content_disposition == 'attachment; filename="linux-basics-key.pem"'
    assert download.headers["Cache-Control"] == "no-store"


def test_connection_before_ready_is_a_409_with_the_reason(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("student-1", "anon-aaa")
    launch(block)
    status, answer = call(block, "connection", {})
    assert status == 409 and "not ready" in answer["error"]


def test_status_long_polls_the_api_with_wait(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("student-1", "anon-aaa")
    launch(block)
    lab_id = next(iter(orchestrator.labs))
    orchestrator.requests.clear()

    status, answer = call(block, "status", {"wait": 20, "known": {"state": "launching", "progress": {"done": 0, "total": 3}}})
    assert status == 200 and answer["lab"]["state"] == "launching"
    plain, waited = orchestrator.calls("GET")
    assert plain.path == waited.path == f"/v1/labs/{lab_id}"
    assert "wait" not in plain.query and waited.query["wait"] == ["20"]

    # The browser may not hold an LMS worker longer than the handler allows.
    orchestrator.requests.clear()
    call(block, "status", {"wait": 600})
    assert orchestrator.calls("GET")[0].query["wait"] == ["25"]

    # A lab that already differs from what the page shows is answered without waiting.
    orchestrator.labs[lab_id].update(state="ready", progress=None)
    orchestrator.requests.clear()
    status, answer = call(block, "status", {"wait": 20, "known": {"state": "launching", "progress": {"done": 0, "total": 3}}})
    assert answer["lab"]["state"] == "ready"
    assert [r.query for r in orchestrator.calls("GET")] == [{}]
    assert not orchestrator.calls("POST"), "polling never launches a lab that exists"


def test_reset_needs_confirmation_and_resets_only_the_learners_lab(unit: Unit, orchestrator: FakeOrchestrator):
    alice = unit.block_for("student-1", "anon-alice")
    bob = unit.block_for("student-2", "anon-bobby-b")
    launch(alice)
    launch(bob)
    bob_lab = next(l for l in orchestrator.labs.values() if l["learnerId"] == "anon-bobby-b")

    status, answer = call(alice, "reset", {})
    assert status == 400 and not orchestrator.calls("POST", "/v1/labs/")
    status, answer = call(alice, "reset", {"confirm": True, "labId": bob_lab["id"]})
    assert status == 200 and answer["lab"]["state"] == "resetting"
    (reset,) = orchestrator.calls("POST", "/v1/labs/")
    assert reset.path.endswith("/reset") and bob_lab["id"] not in reset.path
    assert bob_lab["state"] == "launching"


def test_launch_handler_resumes_and_a_forgotten_lab_is_launched_again(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("student-1", "anon-aaa")
    status, answer = call(block, "launch", {})
    assert status == 200 and answer["heartbeat"]["token"].startswith("hb1.")
    orchestrator.labs.clear()  # the orchestrator's data was wiped
    status, answer = call(block, "status", {"wait": 5})
    assert status == 200 and answer["lab"]["state"] == "launching"
    assert len(orchestrator.calls("POST", "/v1/labs")) == 2


def test_missing_settings_show_a_clear_message_and_call_nothing(orchestrator: FakeOrchestrator):
    for settings in (None, {}, {"API_URL": orchestrator.url}):
        view = render(Unit(settings).block_for("student-1", "anon-aaa"))
        assert "SERVICE_TOKEN" in view["init"]["message"]
        assert "lab" not in view["init"]
    view = render(Unit({"SERVICE_TOKEN": "x"}).block_for("student-1", "anon-aaa"))
    assert 'XBLOCK_SETTINGS["LabXBlock"]["API_URL"]' in view["init"]["message"]
    status, answer = call(Unit(None).block_for("student-1", "anon-aaa"), "status", {"wait": 5})
    assert status == 503 and "not configured" in answer["error"]
    assert orchestrator.requests == []


def test_api_down_shows_a_clear_message(closed_port_url: str):
    unit = Unit({"API_URL": closed_port_url, "SERVICE_TOKEN": SERVICE_TOKEN})
    status, answer = call(unit.block_for("student-1", "anon-aaa"), "launch", {})
    assert status == 503 and "unreachable" in answer["error"]


def test_a_refused_service_token_is_reported_as_configuration(orchestrator: FakeOrchestrator):
    unit = Unit({"API_URL": orchestrator.url, "SERVICE_TOKEN": "wrong"})
    status, answer = call(unit.block_for("student-1", "anon-aaa"), "launch", {})
    # The site's configuration, not the learner's: a 503 (never a 401 the page could misread).
    assert status == 503
    assert "SERVICE_TOKEN" in answer["error"] and "refused" in answer["error"]


def test_no_anonymous_id_no_lab(unit: Unit, orchestrator: FakeOrchestrator):
    view = render(unit.block_for("student-1", None))
    assert "Sign in" in view["init"]["message"]
    assert orchestrator.requests == []


def test_a_unit_without_a_lab_says_so(settings: dict, orchestrator: FakeOrchestrator):
    view = render(Unit(settings, lab_name="").block_for("student-1", "anon-aaa"))
    assert "no lab yet" in view["init"]["message"]
    assert orchestrator.requests == []
