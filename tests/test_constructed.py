"""Models made many at a time (:func:`coprod_core.constructed.constructed`) are what
``model_construct`` makes of the same fields, each with state of its own."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import BaseModel, ConfigDict, PrivateAttr

from coprod_core.constructed import constructed
from coprod_core.model import Person, Project, Role, Rung, Session, SessionKind


def state(made: BaseModel) -> tuple[object, ...]:
    """Everything a model holds, its fields' order included."""
    return (made.__getstate__(), list(vars(made)))


def test_each_model_is_what_model_construct_makes_of_every_field_given() -> None:
    sessions = [
        {
            "id": f"S{i}",
            "project_id": "P1",
            "date": date(2026, 3, i),
            "hours": Decimal(i),
            "kind": SessionKind.SURVEY,
            "stage": None,
            "title": None,
            "decision_taken": i == 2,
            "decision": None,
            "fed_back": None,
            "length_unknown": False,
        }
        for i in (1, 2)
    ]
    made = constructed(Session, [dict(s) for s in sessions])
    assert [state(m) for m in made] == [state(Session.model_construct(**s)) for s in sessions]
    assert made[0].model_fields_set is not made[1].model_fields_set
    assert made == [Session(**s) for s in sessions]  # what validating them would make
    project = {
        "id": "P1",
        "name": "Day service redesign",
        "label": Rung.CO_PRODUCTION,
        "stages_reached": frozenset(),
        "plan_drafted": None,
        "no_plan_before": False,
        "co_chair_roles": frozenset({Role.CARER}),
        "co_chairs": ("7",),
        "decision_group": (),
        "recruitment_opened": None,
        "values_agreed": None,
        "values_reviewed": None,
    }
    (one,) = constructed(Project, [dict(project)])
    assert state(one) == state(Project.model_construct(**project))
    assert constructed(Person, []) == []


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str


class _Hooked(BaseModel):
    id: str

    def model_post_init(self, context: object) -> None:
        pass


class _Private(BaseModel):
    id: str
    _seen: int = PrivateAttr(default=0)


@pytest.mark.parametrize("kind", [_Loose, _Hooked, _Private])
def test_a_model_that_keeps_more_than_its_fields_is_refused(kind: type[BaseModel]) -> None:
    """Extra fields kept, a hook after construction or private attributes: ``model_construct`` does
    more than set the fields, so a model made field by field would not be the same."""
    with pytest.raises(TypeError, match="not a model made from its fields alone"):
        constructed(kind, [{"id": "1"}])
