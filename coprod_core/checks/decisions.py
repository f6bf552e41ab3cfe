"""Decisions as several rules read them: each project's first, and how a message quotes one."""

from __future__ import annotations

from collections.abc import Container
from datetime import date

from coprod_core.model import Dataset, Session


def first_decisions(
    dataset: Dataset, run_date: date, projects: Container[str] | None = None
) -> dict[str, Session]:
    """Project id -> its first session held by the run date where a decision was taken (earliest
    date, then session id, so row order never matters); ``projects`` limits which are looked at."""
    first: dict[str, Session] = {}
    for s in dataset.sessions:
        if (
            not s.decision_taken
            or s.date > run_date
            or (projects is not None and s.project_id not in projects)
        ):
            continue
        old = first.get(s.project_id)
        if old is None or (s.date, s.id) < (old.date, old.id):
            first[s.project_id] = s
    return first


def quoted(session: Session) -> str:
    """`` ('The budget')`` after a session's label, as staff wrote what was decided; '' when unsaid."""
    return f" ('{session.decision.strip()}')" if session.decision else ""
