"""Every problem set's notebook and the judge's registry agree (the lectures' exercises are
checked the same way in tests/test_grading_lectures.py)."""
from __future__ import annotations

import pytest

import coursekit
from course.grading import engine


@pytest.mark.parametrize("assignment", ["ps1", "ps2", "ps3", "ps4", "ps5"])
def test_every_test_cell_has_its_task_and_calls_its_check(assignment):
    assert coursekit.registry_mismatches(assignment) == []


def test_a_missing_or_misnamed_task_is_found(monkeypatch):
    real = engine.tasks("ps1")
    renamed = dict(real)
    del renamed["test_pad2d"]
    renamed["test_extra"] = real["test_pad2d"]
    monkeypatch.setattr(engine, "tasks", lambda assignment: renamed)
    assert coursekit.registry_mismatches("ps1") == [
        "test cell test_pad2d has no task", "task test_extra has no test cell"]


@pytest.mark.parametrize("assignment", ["ps1", "ps2", "ps3", "ps4", "ps5", "lectures"])
def test_every_task_is_judged_by_the_engine_not_a_loop_of_its_own(assignment):
    """Two ways of judging, both the engine's: a table of cases (functions, procedures on
    setups, stepped layers: CaseTask.judge, which also diagnoses) or the notebook's exported
    values (ValuesTask.judge). A task that writes its own judge loop is refused here."""
    for cell, task in engine.tasks(assignment).items():
        kind = engine.CaseTask if isinstance(task, engine.CaseTask) else engine.ValuesTask
        assert isinstance(task, kind), f"{cell}: {type(task).__name__} is neither kind"
        assert type(task).judge is kind.judge, f"{cell}: {type(task).__name__} overrides judge"
