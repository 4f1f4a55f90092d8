"""Usage limits (learner lab-time caps), XBlock side.

When a usage limit applies to a lab, the API's lab carries `usage` ({usedSeconds, limitSeconds,
remainingSeconds, breach, exceeded, window, windowStart}); the handlers pass it to the page
(without `windowStart`), and the page says how much lab time is left, counting down while the
lab is ready, or that it is used up. A launch refused because the time is used up (the API's
403 `usage_limit`) is answered with the reason in learner words and the numbers, told from other
403s by its code; the page shows it and does not ask again.

The page's script (lab.js, as installed) runs in Node: its LabXBlock.usageNotice on what the
handlers answer, and the whole page (tests/lab_page.js: a fake jQuery and a virtual clock) fed
with the handlers' real answers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any, List, Optional

import pytest

from conftest import Unit, call
from fake_orchestrator import FakeOrchestrator
from openedx_lab_xblock import words

NODE = shutil.which("node")
assert NODE is not None, "these tests run lab.js with node: put node on the PATH"
HARNESS = Path(__file__).with_name("lab_page.js")

#: 20 h for the course, 15 h 48 min used: 4 h 12 min left.
USAGE = {
    "usedSeconds": 56880,
    "limitSeconds": 72000,
    "remainingSeconds": 15120,
    "breach": "suspend",
    "exceeded": False,
    "window": "course",
    "windowStart": None,
}
USED_UP = {**USAGE, "usedSeconds": 72000, "remainingSeconds": 0, "exceeded": True}
#: What the page may see of a usage: never when its window started.
SHOWN = ("usedSeconds", "limitSeconds", "remainingSeconds", "breach", "exceeded", "window")
LEFT_SENTENCE = "4 h 12 min of lab time left, out of 20 h for this course."
USED_UP_SENTENCE = "You have used all 20 h of lab time for this course. Ask your course team for more time."


def lab_js() -> str:
    return str(resources.files("openedx_lab_xblock").joinpath("static", "js", "lab.js"))


def node(expression: str, **args: Any) -> Any:
    """`expression` evaluated in Node after lab.js (as installed), with `args` as `args`."""
    script = Path(lab_js()).read_text(encoding="utf-8")
    program = (
        script
        + f"\nconst args = {json.dumps(args)};\n"
        + f"process.stdout.write(JSON.stringify({expression}));\n"
    )
    assert NODE is not None
    done = subprocess.run([NODE, "-"], input=program, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def notice(lab: dict, elapsed_s: float = 0) -> str:
    """What `.openedx-lab-usage` says of `lab` (the handler's view) `elapsed_s` after its answer."""
    return node(
        "LabXBlock.usageNotice(args.lab, args.elapsedMs, args.words)",
        lab=lab,
        elapsedMs=elapsed_s * 1000,
        words=words.USAGE,
    )


def page(init: dict, answers: dict, steps: Optional[List[dict]] = None) -> dict:
    """The whole page, opened with `init` and answered `answers` ({handler: [(status, body)]}):
    {calls, snapshots}, a snapshot after the opening and after each step."""
    scenario = {
        "init": init,
        "answers": {name: [{"status": s, "body": b} for s, b in queue] for name, queue in answers.items()},
        "steps": steps or [],
    }
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(HARNESS), lab_js()], input=json.dumps(scenario), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def opened(unit: Unit, orchestrator: FakeOrchestrator, learner: str = "anon-aaa", **lab: Any):
    """A learner's block, the page's init, and the launch handler's answer (status, body), after
    their lab was launched and then changed by `lab`."""
    block = unit.block_for("student-1", learner)
    init = block.student_view({}).json_init_args
    init["terminal"] = None  # the terminal's own script is not part of these tests
    assert call(block, "launch", {})[0] == 200
    orchestrator.labs[block.lab_id].update(progress=None, **lab)
    return block, init, call(block, "launch", {})


# ----- the handlers -----


def test_a_labs_usage_reaches_the_page_without_when_its_window_started(unit: Unit, orchestrator: FakeOrchestrator):
    orchestrator.usage = {**USAGE, "windowStart": "2026-02-01T00:00:00Z", "labIds": ["lab_x"]}
    block, _, (status, answer) = opened(unit, orchestrator, state="ready")
    expected = {key: USAGE[key] for key in SHOWN}
    assert status == 200 and answer["lab"]["usage"] == expected
    status, polled = call(block, "status", {"wait": 0})
    assert status == 200 and polled["lab"]["usage"] == expected
    assert "2026-02-01" not in repr(answer) + repr(polled) and "lab_x" not in repr(polled)


def test_without_a_usage_limit_the_page_gets_no_usage(unit: Unit, orchestrator: FakeOrchestrator):
    _, _, (status, answer) = opened(unit, orchestrator, state="ready")
    assert status == 200 and answer["lab"]["usage"] is None


@pytest.mark.parametrize(
    "window, sentence",
    [
        ("course", USED_UP_SENTENCE),
        ("30d", "You have used all 20 h of lab time in the last 30 days. Ask your course team for more time."),
        ("1d", "You have used all 20 h of lab time in the last day. Ask your course team for more time."),
    ],
)
def test_a_launch_refused_for_usage_answers_the_reason_with_the_numbers(
    unit: Unit, orchestrator: FakeOrchestrator, window: str, sentence: str
):
    orchestrator.usage = {**USED_UP, "breach": "block", "window": window}
    block = unit.block_for("student-1", "anon-aaa")
    status, answer = call(block, "launch", {})
    assert status == 403
    assert answer == {
        "error": sentence,
        "code": "usage_limit",
        "usage": {key: orchestrator.usage[key] for key in SHOWN},
    }
    assert block.lab_id == "", "no lab was launched, none is stored"
    assert "seconds" not in answer["error"]  # the API's message is for staff


def test_a_lab_paused_for_its_usage_cannot_resume_and_says_why(unit: Unit, orchestrator: FakeOrchestrator):
    block, _, _ = opened(unit, orchestrator, state="ready")
    lab = orchestrator.labs[block.lab_id]
    lab.update(state="suspended", stack={**lab["stack"], "statusReason": "usage limit reached"})
    orchestrator.usage = USED_UP
    status, answer = call(block, "launch", {})  # "Resume my lab"
    assert status == 403 and answer["code"] == "usage_limit" and answer["error"] == USED_UP_SENTENCE
    # The page's token renewal launches too: refused the same way (the page stops its heartbeats).
    status, answer = call(block, "heartbeat_token", {})
    assert status == 403 and answer["code"] == "usage_limit"
    # Reading the lab still works, with its usage.
    status, answer = call(block, "status", {"wait": 0})
    assert status == 200 and answer["lab"]["state"] == "suspended" and answer["lab"]["usage"]["exceeded"] is True
    assert "usage limit reached" not in repr(answer)  # the stack's reason is for staff
    assert notice(answer["lab"]) == USED_UP_SENTENCE


def test_other_403s_are_still_the_sites_configuration(unit: Unit, orchestrator: FakeOrchestrator):
    orchestrator.fail("POST", "/v1/labs", 403, "forbidden", "this token may not launch labs")
    status, answer = call(unit.block_for("student-1", "anon-aaa"), "launch", {})
    assert status == 503 and "SERVICE_TOKEN" in answer["error"]
    assert "code" not in answer and "usage" not in answer
    # Even with usage details, only the code "usage_limit" is a usage refusal.
    orchestrator.faults.clear()
    orchestrator.fail("POST", "/v1/labs", 403, "forbidden", "no", details=USED_UP)
    status, answer = call(unit.block_for("student-2", "anon-bbb"), "launch", {})
    assert status == 503 and "code" not in answer


def test_a_refusal_without_usable_numbers_still_says_the_time_is_used_up(unit: Unit, orchestrator: FakeOrchestrator):
    orchestrator.fail("POST", "/v1/labs", 403, "usage_limit", "used up", details={"window": "7d", "limitSeconds": "x"})
    status, answer = call(unit.block_for("student-1", "anon-aaa"), "launch", {})
    assert status == 403 and answer["code"] == "usage_limit" and answer["usage"] is None
    assert answer["error"] == "You have used all your lab time in the last 7 days. Ask your course team for more time."


# ----- what the page says (lab.js) -----


def test_the_page_says_the_time_left_counting_down_only_while_ready(unit: Unit, orchestrator: FakeOrchestrator):
    orchestrator.usage = USAGE
    block, _, (_, answer) = opened(unit, orchestrator, state="ready")
    assert notice(answer["lab"]) == LEFT_SENTENCE
    # Whole minutes, rounded down: never more time than is left.
    assert notice(answer["lab"], 1) == "4 h 11 min of lab time left, out of 20 h for this course."
    assert notice(answer["lab"], 60) == "4 h 11 min of lab time left, out of 20 h for this course."
    assert notice(answer["lab"], 61) == "4 h 10 min of lab time left, out of 20 h for this course."
    assert notice(answer["lab"], 15120 - 30) == "less than 1 min of lab time left, out of 20 h for this course."
    orchestrator.labs[block.lab_id]["state"] = "suspended"
    paused = call(block, "status", {"wait": 0})[1]["lab"]
    assert notice(paused, 3600) == LEFT_SENTENCE  # a paused lab uses no time


def test_a_window_of_days_is_said_per_days(unit: Unit, orchestrator: FakeOrchestrator):
    orchestrator.usage = {**USAGE, "window": "30d", "remainingSeconds": 5400, "usedSeconds": 66600}
    _, _, (_, answer) = opened(unit, orchestrator, state="ready")
    assert notice(answer["lab"]) == "1 h 30 min of lab time left, out of 20 h per 30 days."


def test_used_up_with_warn_the_page_says_so_gently_and_the_lab_keeps_working(unit: Unit, orchestrator: FakeOrchestrator):
    orchestrator.usage = {**USED_UP, "breach": "warn", "usedSeconds": 72600}
    _, init, (status, answer) = opened(unit, orchestrator, state="ready")
    assert status == 200, "a warning refuses nothing"
    said = "You have used the 20 h of lab time planned for this course. Your lab keeps working."
    assert notice(answer["lab"]) == said
    shown = page(init, {"launch": [(status, answer)]})["snapshots"][-1]
    assert shown[".openedx-lab-usage"]["text"] == said and shown[".openedx-lab-usage"]["hidden"] is False
    assert shown[".openedx-lab-state"]["text"] == "Your lab is ready."


def test_the_page_counts_the_time_left_down_and_follows_the_pause_when_it_runs_out(
    unit: Unit, orchestrator: FakeOrchestrator
):
    orchestrator.usage = {**USAGE, "usedSeconds": 71910, "remainingSeconds": 90}
    block, init, launched = opened(unit, orchestrator, state="ready")
    # The page's refresh a minute later: 30 s left. Then time runs out: the API pauses the lab.
    orchestrator.usage = {**USAGE, "usedSeconds": 71970, "remainingSeconds": 30}
    refreshed = call(block, "status", {"wait": 0})
    orchestrator.usage = USED_UP
    orchestrator.labs[block.lab_id]["state"] = "suspended"
    paused = call(block, "status", {"wait": 0})
    run = page(init, {"launch": [launched], "status": [refreshed, paused]}, [{"advance": 31000}, {"advance": 35000}])
    opening, half, refresh = (s[".openedx-lab-usage"] for s in run["snapshots"][:3])
    assert opening == {"text": "1 min of lab time left, out of 20 h for this course.", "hidden": False, "classes": []}
    assert half["text"] == "less than 1 min of lab time left, out of 20 h for this course."
    assert refresh["text"] == half["text"]
    # 30 s after the refresh the time is up: the page asks for the lab at once (its next refresh
    # would be a minute later), and shows it paused for good.
    run = page(
        init, {"launch": [launched], "status": [refreshed, paused]}, [{"advance": 61000}, {"advance": 35000}]
    )
    assert run["calls"].count("status") == 2
    shown = run["snapshots"][-1]
    assert shown[".openedx-lab-usage"]["text"] == USED_UP_SENTENCE
    assert "openedx-lab-used-up" in shown[".openedx-lab-usage"]["classes"]
    assert shown[".openedx-lab-state"]["text"] == words.USAGE["paused"]
    assert shown[".openedx-lab-launch"]["hidden"] is True, "no Resume button the API would refuse"


def test_the_page_shows_a_refused_launch_and_does_not_ask_again(unit: Unit, orchestrator: FakeOrchestrator):
    orchestrator.usage = {**USED_UP, "window": "30d"}
    block = unit.block_for("student-1", "anon-aaa")
    init = block.student_view({}).json_init_args
    init["terminal"] = None
    refused = call(block, "launch", {})
    run = page(init, {"launch": [refused]}, [{"advance": 10 * 60000}])
    assert run["calls"] == ["launch"], "a refusal for usage is never retried"
    shown = run["snapshots"][-1]
    assert shown[".openedx-lab-message"] == {
        "text": "You have used all 20 h of lab time in the last 30 days. Ask your course team for more time.",
        "hidden": False,
        "classes": [],
    }
    assert shown[".openedx-lab-launch"]["hidden"] is True  # "Try again" would only be refused again


def test_a_refused_resume_shows_the_lab_paused_for_good(unit: Unit, orchestrator: FakeOrchestrator):
    orchestrator.usage = {**USAGE, "breach": "block"}
    block, init, launched = opened(unit, orchestrator, state="suspended")
    orchestrator.usage = {**USED_UP, "breach": "block"}
    refused = call(block, "launch", {})
    run = page(init, {"launch": [launched, refused]}, [{"click": ".openedx-lab-launch", "advance": 1000}])
    before, after = run["snapshots"]
    assert before[".openedx-lab-launch"] == {"text": "Resume my lab", "hidden": False, "classes": []}
    assert before[".openedx-lab-usage"]["text"] == LEFT_SENTENCE
    assert after[".openedx-lab-usage"]["text"] == USED_UP_SENTENCE
    assert after[".openedx-lab-state"]["text"] == words.USAGE["paused"]
    assert after[".openedx-lab-launch"]["hidden"] is True
    assert after[".openedx-lab-message"]["hidden"] is True  # said once, by the usage line
    assert run["calls"].count("launch") == 2


def test_without_usage_the_page_says_nothing_of_lab_time(unit: Unit, orchestrator: FakeOrchestrator):
    _, init, launched = opened(unit, orchestrator, state="suspended")
    assert notice(launched[1]["lab"]) == ""
    shown = page(init, {"launch": [launched]}, [{"advance": 5000}])["snapshots"][-1]
    assert shown[".openedx-lab-usage"]["hidden"] is True and shown[".openedx-lab-usage"]["text"] == ""
    assert shown[".openedx-lab-state"]["text"].startswith("Your lab is paused to save resources.")


def test_the_page_and_the_handler_say_lab_time_alike():
    seconds = [0, 0.5, 1, 59, 60, 61, 119, 3599, 3600, 3660, 15120, 15179, 72000, 360000, 359999.9]
    assert node("args.seconds.map((s) => LabXBlock.labTime(s, args.words))", seconds=seconds, words=words.USAGE) == [
        words.lab_time(s) for s in seconds
    ]
    assert words.lab_time(15120) == "4 h 12 min" and words.lab_time(72000) == "20 h"
    # A used-up lab's line is the sentence the refused launch says.
    for window in ("course", "30d", "1d", "weekly"):
        usage = {**USED_UP, "breach": "block", "window": window}
        lab = {"state": "suspended", "usage": usage}
        assert notice(lab) == words.usage_limit(usage["limitSeconds"], window), window


def test_the_page_gets_the_usage_words_from_the_words_module(unit: Unit):
    init = unit.block_for("student-1", "anon-aaa").student_view({}).json_init_args
    assert init["usageWords"] == words.USAGE
