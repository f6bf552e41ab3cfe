"""Data-quality flags: what the mapping could not use, said so staff can find the cell and fix it.

Each names the row and the column (or the recipe's default that was read), what was found and
what was expected, and what became of the row. Demographic answers are personal data: a flag about
one names the column, never the answer.
"""

from __future__ import annotations

from typing import Any

from coprod_core.checks.data_quality import RULES
from coprod_core.flags import Flag, Subject, SubjectKind
from coprod_core.recipe import Entity
from coprod_core.rows import Row


def where(row: Row, column: str | None, entity: Entity, field_name: str) -> str:
    """``people.csv row 12, column 'Role'``, or the recipe default read in place of a column."""
    if column is None:
        return f"{row.ref}, the default for {field_name} in [entities.{entity.value}.defaults]"
    return f"{row.ref}, column '{column}'"


class Problems:
    """Collects data-quality flags; each names the row and column and says how to fix it."""

    def __init__(self) -> None:
        self.flags: list[Flag] = []

    def add(
        self,
        problem: str,
        entity: Entity,
        row: Row,
        *,
        column: str | None,
        field_name: str,
        message: str,
        evidence: dict[str, Any] | None = None,
        project_id: str | None = None,
    ) -> None:
        ev: dict[str, Any] = {"entity": entity.value, "row": row.ref, "field": field_name}
        if column is not None:
            ev["column"] = column
        if evidence:
            ev.update(evidence)
        self.flags.append(
            RULES[problem].flag(
                subject=Subject(kind=SubjectKind.RECORD, id=f"{entity.value}:{row.key or row.ref}"),
                message=message,
                evidence=ev,
                identity={"field": field_name, "column": column},
                project_id=project_id,
            )
        )

    def repeated_headings(self, entity: Entity, row: Row) -> None:
        """A row that repeats the column headings (two exports pasted together): one problem for the
        row, not one for each of its cells."""
        self.add(
            "repeated_headings",
            entity,
            row,
            column=None,
            field_name="row",
            message=f"{row.ref} repeats the column headings: two exports pasted together? The row was "
            "skipped; delete it.",
        )

    def duplicate(
        self,
        entity: Entity,
        row: Row,
        first: str,
        what: str,
        column: str | None,
        field_name: str,
        fix: str = "Remove the duplicate, or give it its own ID.",
    ) -> None:
        """A row repeating ``what`` (an id, or a person at a session) first used on row ``first``."""
        self.add(
            "duplicate_id",
            entity,
            row,
            column=column,
            field_name=field_name,
            message=f"{row.ref}: {what} appears twice (first on {first}). This row was not used. {fix}",
            evidence={"first": first},
        )
