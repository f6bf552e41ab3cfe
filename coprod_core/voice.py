"""How the voice roles are said in a flag message, in one place for every check.

A recipe may choose other voice roles than the default (lived experience, carers), so messages
never hard-code "lived experience": they say whichever roles the settings name, in the model's
order, joined with "or", in the grammatical form the sentence needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

from coprod_core.model import Role
from coprod_core.text import join


class RoleWords(NamedTuple):
    """How messages name the people in the voice roles a recipe sets, in each grammatical place."""

    people: str
    """Plural noun: 'people with lived experience', 'carers'."""
    short: str
    """For a title: 'lived experience', 'carers'."""
    is_one: str
    """After 'who': 'has lived experience', 'is a carer'."""
    is_many: str
    """After 'who' for several: 'have lived experience', 'are carers'."""
    with_: str
    """After 'anyone': 'with lived experience', 'who is a carer'."""
    someone: str
    """A second role after 'or': 'someone with lived experience', 'a carer'."""


ROLE_WORDS: dict[Role, RoleWords] = {
    Role.LIVED_EXPERIENCE: RoleWords(
        "people with lived experience",
        "lived experience",
        "has lived experience",
        "have lived experience",
        "with lived experience",
        "someone with lived experience",
    ),
    Role.CARER: RoleWords("carers", "carers", "is a carer", "are carers", "who is a carer", "a carer"),
    Role.FRONTLINE_STAFF: RoleWords(
        "frontline staff",
        "frontline staff",
        "is frontline staff",
        "are frontline staff",
        "from the frontline staff",
        "a member of frontline staff",
    ),
    Role.MANAGER: RoleWords(
        "managers", "managers", "is a manager", "are managers", "who is a manager", "a manager"
    ),
    Role.COMMISSIONER: RoleWords(
        "commissioners",
        "commissioners",
        "is a commissioner",
        "are commissioners",
        "who is a commissioner",
        "a commissioner",
    ),
    Role.VOLUNTEER: RoleWords(
        "volunteers", "volunteers", "is a volunteer", "are volunteers", "who is a volunteer", "a volunteer"
    ),
    Role.OTHER: RoleWords(
        "people in other roles",
        "other roles",
        "holds another role",
        "hold other roles",
        "in another role",
        "someone in another role",
    ),
}

Form = Literal["people", "short", "is_one", "is_many"]


def ordered(roles: Iterable[Role]) -> list[Role]:
    """The roles in the model's order, so a message never depends on how a recipe listed them."""
    wanted = set(roles)
    return [r for r in Role if r in wanted]


def say(roles: Iterable[Role], form: Form, conjunction: str = "or") -> str:
    """'people with lived experience or carers', 'has lived experience or is a carer'..."""
    return join([getattr(ROLE_WORDS[r], form) for r in ordered(roles)], conjunction)


def anyone(roles: Iterable[Role], lead: str = "anyone") -> str:
    """'anyone with lived experience or a carer', 'nobody with lived experience or a carer'."""
    roles = ordered(roles)
    if not roles:
        return f"{lead} in a voice role"
    first, *rest = roles
    return join([f"{lead} {ROLE_WORDS[first].with_}", *(ROLE_WORDS[r].someone for r in rest)], "or")
