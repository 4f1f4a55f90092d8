"""Studio: the author picks a lab of the orchestrator's catalog and a display name."""

from __future__ import annotations

from fake_orchestrator import FakeOrchestrator
from conftest import Unit, call
from openedx_lab_xblock.block import human_duration


def test_studio_view_lists_the_catalog_with_timeouts(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("author", "anon-author")
    html = block.runtime.render(block, "studio_view").body_html()
    assert '<option value="linux-basics" selected>' in html
    assert '<option value="k8s-cluster">' in html
    for shown in ("15 min", "14 days", "30 min", "90 days", "20 min"):
        assert shown in html
    assert orchestrator.calls("GET", "/v1/catalog")


def test_submit_validates_the_lab_name_against_the_catalog(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("author", "anon-author")
    status, answer = call(block, "studio_submit", {"display_name": "Kubernetes lab", "lab_name": "k8s-clsuter"})
    assert status == 400 and "k8s-clsuter" in answer["error"] and "k8s-cluster" in answer["error"]
    assert block.lab_name == "linux-basics"

    status, answer = call(block, "studio_submit", {"display_name": "  ", "lab_name": "k8s-cluster"})
    assert status == 400 and "display name" in answer["error"]

    status, answer = call(block, "studio_submit", {"display_name": "Kubernetes lab", "lab_name": "k8s-cluster"})
    assert status == 200 and answer == {"result": "success"}
    assert (block.display_name, block.lab_name) == ("Kubernetes lab", "k8s-cluster")
    # Saved for everyone: a learner's block of the unit has it.
    assert unit.block_for("student-9", "anon-9").lab_name == "k8s-cluster"


def test_studio_with_the_api_down_says_so_and_keeps_the_lab(closed_port_url: str):
    unit = Unit({"API_URL": closed_port_url, "SERVICE_TOKEN": "x"})
    block = unit.block_for("author", "anon-author")
    html = block.runtime.render(block, "studio_view").body_html()
    assert "cannot be read" in html and "unreachable" in html
    status, answer = call(block, "studio_submit", {"display_name": "New title", "lab_name": "k8s-cluster"})
    assert status == 503 and "cannot be checked" in answer["error"]
    # Renaming only, with the lab unchanged, needs no catalog.
    status, _ = call(block, "studio_submit", {"display_name": "New title", "lab_name": "linux-basics"})
    assert status == 200 and block.display_name == "New title"


def test_author_view_launches_nothing(unit: Unit, orchestrator: FakeOrchestrator):
    block = unit.block_for("author", "anon-author")
    html = block.runtime.render(block, "author_view").body_html()
    assert "linux-basics" in html
    assert orchestrator.requests == []


def test_human_durations():
    assert [human_duration(s) for s in (None, 45, 90, 900, 7200, 1209600)] == [
        "none", "45 s", "90 s", "15 min", "2 h", "14 days",
    ]
