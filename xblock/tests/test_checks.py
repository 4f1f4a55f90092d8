"""Issue 17, item 5: graded progress checks in the XBlock.

The learner's "Check my work" starts a run of the lab's checks on their own lab; the page
long-polls it, and the handler that sees it finish publishes the grade (the best or the latest
score, as Studio says), once per run. A run that finished while no page watched it (the tab was
closed) is published the next time the learner opens the unit. A unit whose lab has no checks
is not scored and shows no button, as before.
"""

from __future__ import annotations

import threading
import time
from typing import Dict, List, Optional

import pytest

from conftest import Unit, call
from fake_orchestrator import LINUX_CHECKS, SERVICE_TOKEN, FakeOrchestrator
from openedx_lab_xblock import words
from xblock.fields import Scope
from xblock.scorable import Score

HINT = "FAIL: ~/notes.txt is missing: write your notes there"


def graded_unit(settings: dict, lab_name: str = "linux-basics", **studio) -> Unit:
    """A unit saved in Studio as an author does: the lab's checks come from the catalog."""
    unit = Unit(settings, lab_name="")
    author = unit.block_for("author", "anon-author")
    status, answer = call(author, "studio_submit", {"display_name": "Lab", "lab_name": lab_name, **studio})
    assert status == 200, answer
    return unit


@pytest.fixture
def graded(settings: dict) -> Unit:
    return graded_unit(settings)


def ready_learner(unit: Unit, orchestrator: FakeOrchestrator, user: str = "student-1", learner: str = "anon-aaa"):
    """A learner whose page launched their lab, now ready."""
    block = unit.block_for(user, learner)
    assert call(block, "launch", {})[0] == 200
    lab = next(lab for lab in orchestrator.labs.values() if lab["learnerId"] == learner)
    lab["state"] = "ready"
    return block, lab


def grades(unit: Unit, user: Optional[str] = None) -> List[Dict]:
    return [data for who, kind, data in unit.events if kind == "grade" and (user is None or who == user)]


def start(block) -> dict:
    status, answer = call(block, "check_start", {})
    assert status == 200, answer
    assert answer["run"]["state"] == "running" and answer["run"]["id"].startswith("chk_")
    return answer


def check_once(block, orchestrator: FakeOrchestrator, passed: Dict[str, bool], hints=None) -> dict:
    """The learner clicks "Check my work", the run finishes, the page's poll sees it."""
    run_id = start(block)["run"]["id"]
    orchestrator.finish_check(run_id, passed, hints)
    status, answer = call(block, "check_poll", {"id": run_id, "wait": 5})
    assert status == 200, answer
    return answer


def test_a_finished_run_publishes_its_grade_once(graded: Unit, orchestrator: FakeOrchestrator):
    block, lab = ready_learner(graded, orchestrator)
    orchestrator.requests.clear()

    answer = start(block)
    run_id = answer["run"]["id"]
    assert answer["score"] is None and grades(graded) == [], "a running check is no grade"
    (post,) = orchestrator.calls("POST")
    assert post.path == f"/v1/labs/{lab['id']}/checks" and post.body == {}
    assert post.headers["Authorization"] == f"Bearer {SERVICE_TOKEN}"

    # A second click while it runs: the same run (the API's one-at-a-time), still no grade.
    assert call(block, "check_start", {})[1]["run"]["id"] == run_id

    orchestrator.finish_check(run_id, {"nginx": True, "notes": False}, {"notes": HINT})
    status, answer = call(block, "check_poll", {"id": run_id, "wait": 20})
    assert status == 200, answer
    (get,) = [r for r in orchestrator.calls("GET") if r.path.endswith(run_id)]
    assert get.path == f"/v1/labs/{lab['id']}/checks/{run_id}" and get.query["wait"] == ["20"]

    run = answer["run"]
    assert run["state"] == "failed"
    assert run["score"] == {"earned": 2, "possible": 3}
    assert (run["passedCount"], run["total"]) == (1, 2)
    assert run["results"] == [
        {"name": "nginx", "title": "Nginx is installed", "passed": True, "timedOut": False, "hint": None},
        {"name": "notes", "title": "Your notes are saved", "passed": False, "timedOut": False, "hint": HINT},
    ]
    assert answer["score"] == {"earned": 2, "possible": 3}
    assert graded.events == [("student-1", "grade", {"value": 2, "max_value": 3})]

    # Seen again (another poll, the page reopened): published once only.
    call(block, "check_poll", {"id": run_id, "wait": 0})
    status, state = call(block, "check_state", {})
    assert status == 200 and state["run"]["id"] == run_id and state["run"]["state"] == "failed"
    assert len(grades(graded)) == 1
    assert block.published_runs == [run_id]

    # The Scorable contract: the kept score, in raw points.
    block = graded.block_for("student-1", "anon-aaa")
    assert block.has_score is True and block.max_score() == 3
    assert block.has_submitted_answer() is True
    assert block.get_score() == Score(2.0, 3.0) == block.calculate_score()


@pytest.mark.parametrize(
    "policy, published",
    [
        ("best", [{"value": 2, "max_value": 3}, {"value": 3, "max_value": 3}]),
        ("latest", [{"value": 2, "max_value": 3}, {"value": 1, "max_value": 3}, {"value": 3, "max_value": 3},
                    {"value": 0, "max_value": 3}]),
    ],
)
def test_best_keeps_the_best_score_latest_the_latest(settings: dict, orchestrator: FakeOrchestrator, policy, published):
    unit = graded_unit(settings, grade_policy=policy)
    block, _ = ready_learner(unit, orchestrator)
    kept = []
    for passed in ({"nginx": True}, {"notes": True}, {"nginx": True, "notes": True}, {}):
        kept.append(check_once(block, orchestrator, passed)["score"])

    assert grades(unit) == published
    if policy == "best":
        assert kept == [{"earned": 2, "possible": 3}] * 2 + [{"earned": 3, "possible": 3}] * 2
        final = Score(3.0, 3.0)
    else:
        assert [k["earned"] for k in kept] == [2, 1, 3, 0]
        final = Score(0.0, 3.0)
    assert unit.block_for("student-1", "anon-aaa").get_score() == final
    # What the page shows first on opening says which score counts.
    init = unit.block_for("student-1", "anon-aaa").student_view({}).json_init_args
    assert init["checks"]["policy"] == policy
    assert init["checks"]["score"] == {"earned": final.raw_earned, "possible": final.raw_possible}


def test_opening_the_unit_publishes_a_run_the_page_never_saw_finish(graded: Unit, orchestrator: FakeOrchestrator):
    block, lab = ready_learner(graded, orchestrator)
    first = start(block)["run"]["id"]
    # The learner closes the tab: nobody polls while the run finishes.
    orchestrator.finish_check(first, {"nginx": True}, {"notes": HINT})
    assert grades(graded) == []

    # They come back: rendering calls nothing; the page's first call after its launch does.
    block = graded.block_for("student-1", "anon-aaa")
    orchestrator.requests.clear()
    block.student_view({})
    assert orchestrator.requests == []
    assert call(block, "launch", {})[0] == 200
    status, answer = call(block, "check_state", {})
    assert status == 200, answer
    (listing,) = [r for r in orchestrator.calls("GET") if r.path.endswith("/checks")]
    assert listing.path == f"/v1/labs/{lab['id']}/checks" and listing.query["limit"] == ["20"]
    assert grades(graded) == [{"value": 2, "max_value": 3}]
    assert answer["run"]["id"] == first and answer["run"]["results"][1]["hint"] == HINT
    assert answer["score"] == {"earned": 2, "possible": 3}

    # Opening again publishes nothing more.
    assert call(graded.block_for("student-1", "anon-aaa"), "check_state", {})[0] == 200
    assert len(grades(graded)) == 1

    # Two runs missed (best kept): published once, with the best of them.
    second = start(block)["run"]["id"]
    orchestrator.finish_check(second, {"nginx": True, "notes": True})
    third = start(block)["run"]["id"]
    orchestrator.finish_check(third, {"notes": True})
    status, answer = call(graded.block_for("student-1", "anon-aaa"), "check_state", {})
    assert grades(graded) == [{"value": 2, "max_value": 3}, {"value": 3, "max_value": 3}]
    assert answer["run"]["id"] == third and answer["score"] == {"earned": 3, "possible": 3}
    assert graded.block_for("student-1", "anon-aaa").published_runs == [first, second, third]


def test_after_the_course_team_deletes_a_learners_state_old_runs_are_not_graded_again(graded: Unit, orchestrator: FakeOrchestrator):
    block, _ = ready_learner(graded, orchestrator)
    check_once(block, orchestrator, {"nginx": True, "notes": True})
    assert grades(graded) == [{"value": 3, "max_value": 3}]

    # Instructor dashboard, "delete the learner's state": the grade and what it came from go.
    for key in [key for key in graded.kvs.db_dict if key.scope == Scope.user_state and key.user_id == "student-1"]:
        del graded.kvs.db_dict[key]
    block = graded.block_for("student-1", "anon-aaa")
    assert call(block, "launch", {})[0] == 200
    status, answer = call(block, "check_state", {})
    assert status == 200 and answer["score"] is None
    assert answer["run"]["state"] == "passed", "the last run still shows"
    assert len(grades(graded)) == 1, "the old run was graded again"

    # The next check counts.
    answer = check_once(block, orchestrator, {"nginx": True})
    assert answer["score"] == {"earned": 2, "possible": 3}
    assert grades(graded)[1:] == [{"value": 2, "max_value": 3}]


def test_opening_the_unit_during_a_run_resumes_following_it(graded: Unit, orchestrator: FakeOrchestrator):
    block, _ = ready_learner(graded, orchestrator)
    run_id = start(block)["run"]["id"]
    status, answer = call(graded.block_for("student-1", "anon-aaa"), "check_state", {})
    assert answer["run"] == {"id": run_id, "state": "running", "startedAt": answer["run"]["startedAt"], "finishedAt": None}
    assert grades(graded) == []


def test_the_page_long_polls_until_the_run_finishes(graded: Unit, orchestrator: FakeOrchestrator):
    block, _ = ready_learner(graded, orchestrator)
    run_id = start(block)["run"]["id"]
    finisher = threading.Timer(0.3, orchestrator.finish_check, (run_id, {"nginx": True, "notes": True}))
    finisher.start()
    began = time.monotonic()
    status, answer = call(block, "check_poll", {"id": run_id, "wait": 10})
    finisher.join()
    assert status == 200 and answer["run"]["state"] == "passed"
    assert time.monotonic() - began < 5, "the long-poll answered when the run finished"
    assert grades(graded) == [{"value": 3, "max_value": 3}]

    # A page may not hold an LMS worker longer than the handler allows.
    orchestrator.requests.clear()
    call(block, "check_poll", {"id": run_id, "wait": 600})
    assert orchestrator.calls("GET")[0].query["wait"] == ["25"]


def test_a_run_that_could_not_run_is_no_grade_and_says_so_in_words(graded: Unit, orchestrator: FakeOrchestrator):
    block, _ = ready_learner(graded, orchestrator)
    run_id = start(block)["run"]["id"]
    raw = "ssh: connect to host 10.20.0.7 port 22: Connection timed out (stack lab-x-g1)"
    orchestrator.finish_check(run_id, {}, error=raw)
    status, answer = call(block, "check_poll", {"id": run_id, "wait": 5})
    assert status == 200
    assert answer["run"]["state"] == "error" and answer["run"]["message"] == words.CHECK_COULD_NOT_RUN
    assert "score" not in answer["run"] and answer["score"] is None
    assert raw not in repr(answer) and "10.20" not in repr(answer)
    assert grades(graded) == []
    call(block, "check_state", {})
    assert grades(graded) == [] and block.has_submitted_answer() is False


def test_a_lab_not_ready_is_answered_with_a_clear_message(graded: Unit, orchestrator: FakeOrchestrator):
    block, lab = ready_learner(graded, orchestrator)
    for state, said in (("launching", words.CHECK_NOT_READY), ("resuming", words.CHECK_NOT_READY),
                        ("suspended", words.CHECK_PAUSED), ("deleted", words.LAB_GONE)):
        lab["state"] = state
        status, answer = call(block, "check_start", {})
        assert status == 409, answer
        assert answer["error"] == said and "lab_" not in answer["error"]
    assert not orchestrator.check_runs and grades(graded) == []

    # The lab lost its checks in the catalog since the unit was saved: the API's 422, in words.
    lab["state"] = "ready"
    orchestrator.fail("POST", f"/v1/labs/{lab['id']}/checks", 422, "invalid_input", "lab linux-basics has no checks")
    status, answer = call(block, "check_start", {})
    assert status == 422 and answer["error"] == words.NO_CHECKS


def test_no_checks_no_button_no_score(settings: dict, orchestrator: FakeOrchestrator):
    # A lab without checks in the catalog, and a unit saved before checks existed.
    for unit in (graded_unit(settings, lab_name="k8s-cluster"), Unit(settings)):
        block, _ = ready_learner(unit, orchestrator, learner=f"anon-{id(unit)}")
        assert block.has_score is False and block.max_score() is None
        init = block.student_view({}).json_init_args
        assert init["launch"] is True and "checks" not in init
        orchestrator.requests.clear()
        for handler, data in (("check_state", {}), ("check_start", {}), ("check_poll", {"id": "chk_0001", "wait": 1})):
            status, answer = call(block, handler, data)
            assert status == 404 and answer["error"] == words.NO_CHECKS_IN_UNIT
        assert orchestrator.requests == [] and unit.events == []
        # Everything else works as before.
        assert call(block, "connection", {})[0] == 200


def test_a_learner_follows_only_runs_of_their_own_lab(graded: Unit, orchestrator: FakeOrchestrator):
    alice, _ = ready_learner(graded, orchestrator, "student-1", "anon-alice")
    bob, bobs_lab = ready_learner(graded, orchestrator, "student-2", "anon-bobby-b")
    alices_run = start(alice)["run"]["id"]
    orchestrator.finish_check(alices_run, {"nginx": True, "notes": True})
    orchestrator.requests.clear()

    status, answer = call(bob, "check_poll", {"id": alices_run, "wait": 0})
    assert status == 404 and answer["error"] == words.CHECK_NOT_FOUND
    (asked,) = orchestrator.calls("GET")
    assert asked.path == f"/v1/labs/{bobs_lab['id']}/checks/{alices_run}"
    assert grades(graded) == []

    # Whatever the page sends as an id, it only ever names a run of the learner's lab.
    orchestrator.requests.clear()
    for bad in ("../../labs", "chk_../x", "", None, 7, "chk_a/b"):
        status, answer = call(bob, "check_poll", {"id": bad})
        assert status == 400, (bad, answer)
    assert orchestrator.requests == []

    # Without a lab of theirs, no check starts and none is launched for them.
    carol = graded.block_for("student-3", "anon-carol")
    status, answer = call(carol, "check_start", {})
    assert status == 404 and answer["error"] == words.NO_LAB_YET
    status, answer = call(carol, "check_state", {})
    assert status == 200 and answer["run"] is None and answer["score"] is None
    assert not orchestrator.calls("POST")


@pytest.mark.parametrize("show_results, show_hints", [(True, False), (False, True)])
def test_studio_decides_what_learners_see_of_the_results(settings: dict, orchestrator: FakeOrchestrator, show_results, show_hints):
    unit = graded_unit(settings, show_check_results=show_results, show_hints=show_hints)
    block, _ = ready_learner(unit, orchestrator)
    assert block.student_view({}).json_init_args["checks"]["showResults"] is show_results
    answer = check_once(block, orchestrator, {"nginx": True}, {"notes": HINT})
    run = answer["run"]
    assert run["score"] == {"earned": 2, "possible": 3}
    if show_results:
        assert [r["hint"] for r in run["results"]] == [None, None]
        assert run["passedCount"] == 1
    else:
        assert "results" not in run and "passedCount" not in run
    assert HINT not in repr(answer)
    assert grades(unit) == [{"value": 2, "max_value": 3}]


def test_checks_are_rate_limited_like_the_other_handlers(settings: dict, orchestrator: FakeOrchestrator):
    unit = graded_unit({**settings, "ACTIONS_PER_MINUTE": 2, "READS_PER_MINUTE": 3})
    block = unit.block_for("student-1", "anon-aaa")
    assert call(block, "launch", {})[0] == 200
    next(iter(orchestrator.labs.values()))["state"] = "ready"
    assert call(block, "check_start", {})[0] == 200
    status, answer = call(block, "check_start", {})
    assert status == 429 and answer["retryAfter"] >= 1
    run_id = next(iter(orchestrator.check_runs))
    statuses = [call(block, "check_poll", {"id": run_id})[0] for _ in range(3)]
    assert statuses == [200, 200, 200] and call(block, "check_state", {})[0] == 429


def test_studio_saves_the_labs_checks_and_how_they_are_graded(unit: Unit, orchestrator: FakeOrchestrator):
    author = unit.block_for("author", "anon-author")
    html = author.runtime.render(author, "studio_view").body_html()
    assert "Nginx is installed (2); Your notes are saved (1)" in html and "none (not graded)" in html
    # The unit was never saved with the lab's checks: Studio says to save it.
    assert "changed in the catalog" in html

    form = {"display_name": "Lab", "lab_name": "linux-basics"}
    assert call(author, "studio_submit", {**form, "grade_policy": "sometimes"})[0] == 400
    for weight in ("-1", "lots", 1e9, True):
        status, answer = call(author, "studio_submit", {**form, "weight": weight})
        assert status == 400 and "weight" in answer["error"], weight
    status, _ = call(author, "studio_submit", {**form, "weight": "10", "grade_policy": "latest",
                                               "show_hints": False, "show_check_results": True})
    assert status == 200
    block = unit.block_for("student-9", "anon-9")
    assert block.checks == [{**check, "weight": float(check["weight"])} for check in LINUX_CHECKS]
    assert (block.weight, block.grade_policy, block.show_hints) == (10.0, "latest", False)
    assert block.has_score is True and block.max_score() == 3
    html = author.runtime.render(author, "studio_view").body_html()
    assert "changed in the catalog" not in html and 'value="10"' in html
    assert '<option value="latest" selected>' in html
    summary = author.runtime.render(author, "author_view").body_html()
    assert "2 checks" in summary and "worth 10 points" in summary
    # An empty weight: the checks' own total counts.
    assert call(author, "studio_submit", {**form, "weight": ""})[0] == 200
    assert unit.block_for("student-9", "anon-9").weight is None

    # Another lab, without checks: the unit is no longer scored.
    assert call(author, "studio_submit", {"display_name": "Lab", "lab_name": "k8s-cluster"})[0] == 200
    assert unit.block_for("student-9", "anon-9").has_score is False


def test_the_page_gets_the_checks_words_with_the_unit(graded: Unit, orchestrator: FakeOrchestrator):
    orchestrator.requests.clear()
    fragment = graded.block_for("student-1", "anon-aaa").student_view({})
    init = fragment.json_init_args
    assert init["checks"] == {"words": words.CHECKS, "policy": "best", "showResults": True, "score": None}
    assert "openedx-lab-checks" in fragment.body_html()
    page = repr(fragment.to_dict())
    assert "check_poll" in page and ".openedx-lab-check-result" in page
    assert orchestrator.requests == [], "rendering the unit called the API"
