"""What learners read when something goes wrong: plain words for each error code.

The API's messages and a lab's `error.message` are for staff: they name lab ids, states,
dependencies and, for a lab, Heat's raw reason (project ids, hosts, quota details). Staff read
those in labctl and Temporal UI; the learner's page only ever gets the words below, chosen by
the stable `code`.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

TELL_THE_TEAM = "If it keeps happening, please tell the course team."

#: A failed lab's `error.code` (workflows/lab.ts) in learner words.
LAB_ERRORS = {
    "create_failed": f"Your lab could not be built. Try again. {TELL_THE_TEAM}",
    "launch_timeout": f"Building your lab took too long, so it was stopped. Try again. {TELL_THE_TEAM}",
    "quota": "The lab cloud is full right now. Please try again later.",
    "no_provider": "There is no room for your lab in the lab cloud right now. Please try again later.",
    "suspend_failed": f"Your lab ran into a problem while it was being paused. Try again. {TELL_THE_TEAM}",
    "resume_failed": f"Your lab could not be resumed. Try again. {TELL_THE_TEAM}",
    "bad_template": "This lab is not set up correctly. Please tell the course team.",
    "unknown_lab": "This lab is no longer offered. Please tell the course team.",
    "heat_error": f"The lab cloud had a problem with your lab. Try again. {TELL_THE_TEAM}",
}
LAB_ERROR_OTHER = f"Something went wrong with your lab. Try again. {TELL_THE_TEAM}"

NO_LAB_IN_UNIT = "This unit has no lab yet: the course team chooses one in Studio."
NO_LAB_YET = "You have no lab in this unit yet: open the unit to start one."
LAB_GONE = "Your lab has been deleted. Reload the page to start a new one."
LAB_NOT_FOUND = "Your lab could not be found. Reload the page to start a new one."
NOT_READY = "Your lab is not ready yet: how to connect shows here once it is."
CANNOT_RESET_NOW = "Your lab cannot be reset right now: wait until it is ready or paused, then try again."
BUSY = "Your lab is changing right now. Please wait a moment and try again."
NO_TOKEN_NOW = "Your lab is not running, so this page stops reporting your activity to it."
BAD_REQUEST = "The lab service did not understand this request. Please reload the page and try again."
UNKNOWN_LAB = "This unit's lab is no longer offered. Please tell the course team."
SERVER_ERROR = f"The lab service ran into a problem. Please try again in a few minutes. {TELL_THE_TEAM}"
UNAVAILABLE = "The lab service is unavailable right now. Please try again shortly."
UNREACHABLE = "The lab service is unreachable right now. Please try again shortly."
TIMED_OUT = "The lab service did not answer in time. Please try again shortly."
TERMINAL_OFF = "The terminal in the browser is turned off for this unit."
TERMINAL_NOT_READY = "Your lab is not ready yet: the terminal opens once it is."

# Graded checks of the learner's work (issue 17).
CHECK_NOT_READY = "Your lab is not ready yet, so your work cannot be checked. Wait until your lab is ready, then check again."
CHECK_PAUSED = "Your lab is paused, so your work cannot be checked right now. It resumes when you work on this page: check again once it is ready."
CHECK_NOT_FOUND = "This check of your work could not be found. Please check your work again."
NO_CHECKS = "This lab has no checks to run right now. Please tell the course team."
NO_CHECKS_IN_UNIT = "This unit has no checks of your work."
#: A run in state `error`: the checks could not run at all (its reason is for staff).
CHECK_COULD_NOT_RUN = (
    "Your work could not be checked this time because your lab could not be reached. "
    "Nothing was graded. Please try again in a moment."
)

#: The terminal in the browser, as the page says it (lab.js gets these with the unit).
TERMINAL = {
    "connecting": "Connecting to your lab…",
    "dropped": "The connection to your lab was lost. Reconnecting…",
    "ssh_failed": "The terminal cannot reach your lab right now. Trying again…",
    "too_many": "Your lab's terminal is open in too many other tabs or windows: close one and it reconnects here.",
    "ended": "The terminal session ended.",
    "reconnect": "Open a new terminal",
    # The lab left ready (the API closed the terminal), by what it does now.
    "left_ready": "Your lab stopped running here; the terminal reconnects when it is ready again.",
    "suspending": "Your lab is suspending; it resumes when you come back.",
    "suspended": "Your lab is paused; the terminal reconnects when it resumes.",
    "resuming": "Your lab is resuming; the terminal reconnects when it is ready.",
    "rebuilding": "Your lab is being rebuilt; the terminal reconnects when it is ready.",
    # The SSH details, folded under the terminal.
    "ssh_fold": "Advanced: use your own SSH client",
    # The terminal's own buttons.
    "full_screen": "Full screen",
    "exit_full_screen": "Exit full screen",
    "read_only": "Read only: you can watch, not type",
}

#: When the learner's lab will be deleted, as the page says it: lab.js writes {date} in the
#: learner's locale and time zone ("12 March", with the time when it is within two days).
DELETION = {
    # A paused lab: deleted `deleteAfter` after it was paused, unless the learner resumes it.
    "suspended": "Your lab and its files will be deleted on {date} unless you come back.",
    # A ready lab within a day of its `maxLifetime`: coming back does not keep it.
    "end_of_lifetime": "Your lab and its files will be deleted on {date} (the end of its lifetime).",
}

#: The learner's lab time, when a usage limit applies to the lab (the lab's `usage`). lab.js
#: fills the {placeholders} the same way usage_limit() below does: {left} and {limit} are
#: lab_time()s, {per} and {window} one of the phrases below (each with its leading space, "" for
#: a window the page does not know).
USAGE = {
    # Time left: counts down while the lab is ready.
    "left": "{left} of lab time left, out of {limit}{per}.",
    # Used up, with breach "warn": only a notice, the lab keeps working.
    "used_up_warn": "You have used the {limit} of lab time planned{per}. Your lab keeps working.",
    # Used up, with breach "block" or "suspend": launching or resuming is refused (also the
    # reason the launch handler answers with).
    "used_up": "You have used all {limit} of lab time{window}. Ask your course team for more time.",
    "used_up_all": "You have used all your lab time{window}. Ask your course team for more time.",
    # A paused lab that cannot resume because the time is used up (instead of "resumes when...").
    "paused": "Your lab is paused because your lab time is used up.",
    # The window the limit counts over (`window`: "course", or "<N>d", the last N days).
    "per_course": " for this course",
    "per_days": " per {days} days",
    "per_day": " per day",
    "window_course": " for this course",
    "window_days": " in the last {days} days",
    "window_day": " in the last day",
    # Lengths of lab time, in whole minutes rounded down: "4 h 12 min".
    "hours": "{n} h",
    "minutes": "{n} min",
    "under_a_minute": "less than 1 min",
}

#: The "Check your work" part of the page, as lab.js says it ({n} placeholders filled there).
CHECKS = {
    "heading": "Check your work",
    "intro": "When you think you are done, check your work: each step is tested in your lab. You can check as often as you like.",
    "button": "Check my work",
    "again": "Check again",
    "wait_for_lab": "You can check your work once your lab is ready.",
    "running": "Checking your work… This can take a minute.",
    "all_passed": "Every check passed. Well done!",
    "some_passed": "{passed} of {total} checks passed. Fix what is missing in your lab, then check again.",
    "some_passed_hints": "{passed} of {total} checks passed. The hints below say what is missing: fix it in your lab, then check again.",
    "not_all_passed": "Not every check passed yet. Fix what is missing in your lab, then check again.",
    "run_score": "This check: {earned} of {possible} points.",
    "score_best": "Your score: {earned} of {possible} points (your best check is the one that counts).",
    "score_latest": "Your score: {earned} of {possible} points (your latest check is the one that counts).",
    "passed": "Done",
    "failed": "Not yet",
    "timed_out": "This check took too long and was stopped. Make sure nothing in your lab is stuck, then check again.",
    "hint": "Hint:",
    "start_failed": "Your work could not be checked right now. Please try again in a moment.",
    "retrying": "Still checking… The connection was interrupted, trying again.",
}


def lab_error(code: Optional[str]) -> str:
    return LAB_ERRORS.get(code or "", LAB_ERROR_OTHER)


def lab_time(seconds: float) -> str:
    """A length of lab time, "4 h 12 min", rounded down to the minute (never more than is left).

    lab.js has the same (LabXBlock.labTime), for the countdown.
    """
    minutes = int(max(0.0, seconds) // 60)
    if minutes == 0 and seconds > 0:
        return USAGE["under_a_minute"]
    hours, minutes = divmod(minutes, 60)
    parts = [USAGE["hours"].format(n=hours)] if hours else []
    if minutes or not hours:
        parts.append(USAGE["minutes"].format(n=minutes))
    return " ".join(parts)


def window_days(window: Any) -> Optional[int]:
    """The N of a usage window "<N>d" (the last N days); None for "course" or anything else."""
    found = re.fullmatch(r"([1-9][0-9]{0,4})d", window) if isinstance(window, str) else None
    return int(found.group(1)) if found else None


def usage_window(window: Any) -> str:
    """Which lab time a limit counts, as the used-up sentence ends: " for this course"."""
    if window == "course":
        return USAGE["window_course"]
    days = window_days(window)
    if days is None:
        return ""
    return USAGE["window_day"] if days == 1 else USAGE["window_days"].format(days=days)


def usage_limit(limit_seconds: Optional[float], window: Any) -> str:
    """The API's 403 `usage_limit` (a launch refused: the lab time is used up) for the learner.

    `limit_seconds` as client.usage_of() reads it (None when the error had no usable number).
    """
    if limit_seconds is None:
        return USAGE["used_up_all"].format(window=usage_window(window))
    return USAGE["used_up"].format(limit=lab_time(limit_seconds), window=usage_window(window))


def seconds(n: int) -> str:
    return "1 second" if n == 1 else f"{n} seconds"


def slow_down(retry_after: int) -> str:
    """The XBlock's own per-user limit."""
    return f"You are doing that too often: please slow down and try again in {seconds(retry_after)}."


def busy_service(retry_after: int) -> str:
    """The API's 429: the lab service is busy for everyone (or for this lab)."""
    return f"The lab service is busy right now. Please try again in {seconds(retry_after)}."


def api_error(
    status: int,
    code: Optional[str],
    details: Optional[Mapping[str, Any]],
    action: str,
    retry_after: Optional[int] = None,
) -> str:
    """The API's error `{code, message, details}` for a learner, by code and what was asked."""
    state = (details or {}).get("state")
    if status == 429:
        return busy_service(retry_after or 1)
    if action in ("check", "check_poll", "check_list"):
        if status == 409 or code == "invalid_state":
            if state == "deleted":
                return LAB_GONE
            return CHECK_PAUSED if state in ("suspending", "suspended") else CHECK_NOT_READY
        if status == 422 and code != "unknown_lab":
            return NO_CHECKS
        if status == 404 and action == "check_poll":
            return CHECK_NOT_FOUND
    if code == "unknown_lab" or status == 422:
        return UNKNOWN_LAB
    if status == 409 or code == "invalid_state":
        if state == "deleted":
            return LAB_GONE
        if action == "connection":
            return NOT_READY
        if action == "reset":
            return CANNOT_RESET_NOW
        if action == "terminal":
            return TERMINAL_NOT_READY
        return BUSY
    if status == 404:
        return LAB_NOT_FOUND
    if status in (502, 503, 504):
        return UNAVAILABLE
    if 400 <= status < 500:
        return BAD_REQUEST
    return SERVER_ERROR
