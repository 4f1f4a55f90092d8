"""Issue 19, item 4: a paused lab's page says when the lab and its files will be deleted.

The handlers pass the API's `deleteAt` through; the page's script (lab.js, as installed) writes
the sentence with the date in the learner's locale and time zone. These tests run that script's
`LabXBlock.deletionNotice` in Node on what the handlers answer, with a fixed locale and zone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from typing import Any, Optional

import pytest

from conftest import Unit, call
from fake_orchestrator import FakeOrchestrator
from openedx_lab_xblock import words

# Node runs the page's script (lab.js); npm test always has it, so its absence is a failure.
NODE = shutil.which("node")
assert NODE is not None, "these tests run lab.js with node: put node on the PATH"

SUSPENDED_SENTENCE = "Your lab and its files will be deleted on 12 March unless you come back."


def page_says(lab: dict, now: str, deletion_words: Any, locale: str = "en-GB", time_zone: str = "UTC") -> str:
    """What the page shows in `.openedx-lab-deletion` for `lab` at server time `now` (ISO)."""
    script = resources.files("openedx_lab_xblock").joinpath("static", "js", "lab.js").read_text(encoding="utf-8")
    args = {"lab": lab, "now": now, "words": deletion_words, "format": {"locale": locale, "timeZone": time_zone}}
    program = (
        script
        + f"\nconst args = {json.dumps(args)};\n"
        + "process.stdout.write(JSON.stringify("
        + "LabXBlock.deletionNotice(args.lab, Date.parse(args.now), args.words, args.format)));\n"
    )
    assert NODE is not None
    done = subprocess.run([NODE, "-"], input=program, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def learner_lab(unit: Unit, orchestrator: FakeOrchestrator, **lab: Optional[str]) -> "tuple[dict, dict]":
    """The unit's init words and the lab as the status handler answers it, after `lab` changes."""
    block = unit.block_for("student-1", "anon-aaa")
    init = block.student_view({}).json_init_args
    assert call(block, "launch", {})[0] == 200
    orchestrator.labs[block.lab_id].update(progress=None, **lab)
    status, answer = call(block, "status", {"wait": 0})
    assert status == 200, answer
    return init["deletionWords"], answer["lab"]


def test_a_paused_labs_page_says_the_day_it_will_be_deleted(unit: Unit, orchestrator: FakeOrchestrator):
    deletion_words, lab = learner_lab(unit, orchestrator, state="suspended", deleteAt="2026-03-12T10:00:00.000Z")
    assert lab["deleteAt"] == "2026-03-12T10:00:00.000Z"
    assert page_says(lab, "2026-03-01T09:00:00Z", deletion_words) == SUSPENDED_SENTENCE


def test_the_date_is_in_the_learners_locale_and_time_zone(unit: Unit, orchestrator: FakeOrchestrator):
    deletion_words, lab = learner_lab(unit, orchestrator, state="suspended", deleteAt="2026-03-12T02:00:00Z")
    # 02:00 UTC on 12 March is still 11 March in New York.
    said = page_says(lab, "2026-03-01T09:00:00Z", deletion_words, locale="en-US", time_zone="America/New_York")
    assert said == "Your lab and its files will be deleted on March 11 unless you come back."


def test_the_time_shows_when_the_deletion_is_less_than_two_days_away(unit: Unit, orchestrator: FakeOrchestrator):
    deletion_words, lab = learner_lab(unit, orchestrator, state="suspended", deleteAt="2026-03-12T10:00:00Z")
    said = page_says(lab, "2026-03-11T09:00:00Z", deletion_words)
    # ICU versions differ on the joint ("12 March at 10:00", "12 March, 10:00").
    assert said.startswith("Your lab and its files will be deleted on 12 March") and "10:00" in said, said
    assert said.endswith(" unless you come back."), said


def test_a_ready_lab_without_deleteAt_says_nothing_of_deletion(unit: Unit, orchestrator: FakeOrchestrator):
    deletion_words, lab = learner_lab(
        unit, orchestrator, state="ready", suspendAt="2026-03-01T09:15:00Z", deleteAt=None
    )
    assert lab["deleteAt"] is None
    assert page_says(lab, "2026-03-01T09:00:00Z", deletion_words) == ""


def test_a_ready_lab_says_its_end_of_lifetime_only_within_a_day(unit: Unit, orchestrator: FakeOrchestrator):
    deletion_words, lab = learner_lab(
        unit, orchestrator, state="ready", suspendAt="2026-03-01T09:15:00Z", deleteAt="2026-03-12T10:00:00Z"
    )
    assert page_says(lab, "2026-03-01T09:00:00Z", deletion_words) == ""
    said = page_says(lab, "2026-03-11T19:00:00Z", deletion_words)
    assert said.startswith("Your lab and its files will be deleted on 12 March") and "10:00" in said, said
    assert said.endswith(" (the end of its lifetime)."), said
    assert "come back" not in said  # coming back does not keep it


def test_other_states_say_nothing_of_deletion(unit: Unit, orchestrator: FakeOrchestrator):
    for state in ("launching", "resuming", "failed"):
        deletion_words, lab = learner_lab(unit, orchestrator, state=state, deleteAt="2026-03-01T10:00:00Z")
        assert page_says(lab, "2026-03-01T09:00:00Z", deletion_words) == "", state


def test_the_page_gets_the_deletion_words_from_the_words_module(unit: Unit):
    init = unit.block_for("student-1", "anon-aaa").student_view({}).json_init_args
    assert init["deletionWords"] == words.DELETION
    assert all("{date}" in sentence for sentence in words.DELETION.values())
    assert words.DELETION["suspended"].format(date="12 March") == SUSPENDED_SENTENCE
