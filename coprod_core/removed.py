"""People no longer in the people list: which flags were about them, and the words that replace what
named them.

When a charity deletes someone at their request (UK GDPR, the right to erasure), coprod must not
keep their name in the flags it wrote into the charity's tools. The state store keeps ids and
digests only; but a flag's row in the flags file or the Flags tab, and a flag Activity in CiviCRM,
carry the person's name, what they are owed and for which sessions. So a flag about a person whose
id is on no row of the people list any more is resolved and its words that say who are replaced by
:data:`REMOVED_ABOUT` and :data:`REMOVED_MESSAGE`; its fingerprint, check, severity, status and
dates stay, so the record still shows that a flag existed and was closed.

A person is counted as removed only when the people list was read whole and every row of it named
its person: a row that could not be used still names an id (that person is not removed), and one
whose ID cell is blank could be anyone's, so while it is there nobody is counted as removed. A run
that could not read a source, or that the shrink guard stopped, never gets this far.

A flag about a session or a project is about something still there, and keeps what it says of it
(its About), unless its words name people besides its subject (:attr:`~coprod_core.flags.Flag.named`:
the hours flag lists who gave a session more hours than it lasted): once one of them is no longer in
the people list, it is treated as theirs, and its message and evidence give way to
:data:`REMOVED_NAMED_MESSAGE` once it is no longer raised. While it is still raised for others, it
is rewritten without the person (its facts changed). A flag about a row that could not be used
names a row by its number (which the next row takes once one is deleted) and never quotes a name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from coprod_core.flags import SubjectKind

REMOVED_ABOUT = "Removed from the people list: details no longer shown"
"""What a removed person's flag says instead of who it was about ("Sam Carter (ID 17)")."""

REMOVED_MESSAGE = (
    "Closed: the person this flag was about is no longer in the people list, so their name and the "
    "details are no longer shown."
)
"""What a removed person's flag says instead of its message (and its evidence)."""

REMOVED_NAMED_MESSAGE = (
    "Closed: someone this flag named is no longer in the people list, so the names and the details are "
    "no longer shown."
)
"""What a flag about a session says instead of its message (and its evidence) once someone its words
named is no longer in the people list; what it was about (the session) stays."""

_NOTES = " Notes of your own on this row are kept as you wrote them: clear them too if they name the person."

ROW_MESSAGE = REMOVED_MESSAGE + _NOTES
"""The message of such a flag's row where staff may have added columns of their own (a flags file,
the Flags tab): coprod never writes those cells, so it says so."""

NAMED_ROW_MESSAGE = REMOVED_NAMED_MESSAGE + _NOTES
"""The same for a flag about a session that named the person (:data:`REMOVED_NAMED_MESSAGE`)."""


def removed_message(kind: SubjectKind, *, row: bool) -> str:
    """The words that replace a removed flag's message: about the person, or (a flag about a session)
    naming them; ``row`` where staff may keep notes of their own beside it."""
    if kind is SubjectKind.PERSON:
        return ROW_MESSAGE if row else REMOVED_MESSAGE
    return NAMED_ROW_MESSAGE if row else REMOVED_NAMED_MESSAGE


def keeps_about(kind: SubjectKind) -> bool:
    """Whether a removed flag keeps what it says it is about: a session or a project is still there,
    and its words name no person; a person's do."""
    return kind is not SubjectKind.PERSON


REMOVED_DIGEST = "removed"
"""The facts digest the state keeps for a resolved flag whose words were replaced, so a later run
knows they were (a real digest is 20 hex digits; a resolved flag's digest is otherwise never read)."""


class PeopleRead(NamedTuple):
    """Whom a run's people list named: the id on every row, used or not."""

    ids: frozenset[str]
    """Each id a people row holds: rows used, and rows that could not be used but have an id."""
    unidentified: int = 0
    """Rows that could not be used and whose ID cell is blank: one of them may be anyone's."""

    def removed(self, kind: SubjectKind, subject_id: str, named: Iterable[str] = ()) -> bool:
        """Whether a flag about this subject, naming these people besides it, is about or names
        someone no longer in the people list."""
        return bool(self.gone(kind, subject_id, named))

    def gone(self, kind: SubjectKind, subject_id: str, named: Iterable[str] = ()) -> set[str]:
        """The IDs of the people such a flag is about or names who are no longer in the people list
        (none while a row's ID cell is blank: that row may be anyone's)."""
        if self.unidentified:
            return set()
        about = [subject_id] if kind is SubjectKind.PERSON else []
        return {person_id for person_id in (*about, *named) if person_id not in self.ids}
