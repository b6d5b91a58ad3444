"""Test seams of the charger-message pipeline: a handler replaced, group commit switched on for one test."""

from __future__ import annotations

import dataclasses

from cms.group_commit import GroupCommitter
from cms.handlers import HANDLERS, HandlerFunction
from cms.pipeline import ChargerPipeline
from cms.runtime import Runtime


def replace_handler(monkeypatch, action: str, run: HandlerFunction) -> None:
    """``action`` runs ``run`` for the rest of the test (its registration otherwise unchanged)."""
    monkeypatch.setitem(HANDLERS, action, dataclasses.replace(HANDLERS[action], run=run))


def with_group_commit(rt: Runtime, committer: GroupCommitter, monkeypatch) -> ChargerPipeline:
    """The app's pipeline, as the composition root builds it with group commit on, for the rest of the test."""
    old = rt.pipeline
    pipeline = ChargerPipeline(
        old.runner,
        old.validator,
        old.settings,
        group_commit=committer,
        heartbeats=old.heartbeats,
        accepted=old.accepted,
        metrics=old.metrics,
    )
    monkeypatch.setattr(rt, "pipeline", pipeline)
    monkeypatch.setattr(rt, "group_commit", committer)
    return pipeline
