"""References between entities: an attendance or payment naming a person or a session read.

A reference to nobody read is flagged with why (not in the list, or on a row that could not be
used) and, when a known id differs only by leading zeros, spaces, capitals or characters nobody can see (a spreadsheet turning
"007" into 7, "S01" typed "s01", a zero-width space pasted from a web page), a hint. The hint is never acted on: 7 and 007 may well be two
people.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from coprod_core.mapping.fields import FieldReader
from coprod_core.mapping.problems import where
from coprod_core.recipe import Entity
from coprod_core.rows import Row
from coprod_core.text import without_unseen

REMOVED_PERSON_ROW = (
    "belongs to someone who has been removed from the people list. {outcome} If they asked for their data "
    "to be deleted, {deleted}; if they were removed by mistake, add them back to the people list."
)
"""What a row naming a person removed from the people list says after "person ID 17" (the row's
``outcome``, "The attendance was not used.", in the middle): not a mistyped ID but a deletion, most
often one they asked for, whose rows staff still have to deal with (``deleted``: how, in the words
of the tool the flag goes to, :data:`DELETE_ROWS` unless the run says otherwise)."""

DELETE_ROWS = (
    "delete their attendance and payment rows too, or mark this flag won't fix if the charity must keep "
    "the payment record"
)
"""What staff do about a removed person's rows where the flag goes to a tool with a "won't fix"
status (a flags file, the Flags tab). A tool without one, or with other words for it, gives its own
(``Connector.removed_rows_advice``): coprod_core does not know which tool that is."""

DELETE_ROWS_NO_WRITE_BACK = (
    "delete their attendance and payment rows too (the recipe's write_back = false keeps coprod's flags out "
    "of this source, so there is no won't fix to mark: while a row names them, this flag stays)"
)
"""The same where the row's source has ``write_back = false``: coprod writes no flag there, so there
is nowhere to mark one won't fix, and the only fix is in the source's data
(``Connector.removed_rows_advice_no_write_back``)."""

REMOVED_MEMBER = (
    "if they asked for their data to be deleted, take {ids} out of this list too; if they were removed "
    "by mistake, add them back to the people list."
)
"""What to do about a project's decision group or co-chairs naming someone removed from the people
list (``ids``: "their ID"): the list is the project's, kept by the charity, so the ID comes out of
it; no payment record to keep, so no "won't fix"."""


def _loose_id(rid: str) -> str:
    """An id without its spaces, leading zeros, capitals and characters nobody can see: '007',
    '0 07' and '7' are all '7'; 'S01' and 's01' are both 's01'; '7' followed by a zero-width space
    is '7'."""
    squeezed = "".join(without_unseen(rid).split()).casefold()
    return squeezed.lstrip("0") or squeezed[:1]


class NearIds:
    """The known ids an unknown one may have been meant as: equal but for leading zeros, spaces or
    capitals (a spreadsheet turning "007" into 7). Only ever a hint in a message: the match is never made,
    since 7 and 007 may well be two people. Built on the first unknown id, as most runs have none."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self._by_loose: dict[str, list[str]] | None = None

    def near(self, found: str) -> list[str]:
        if self._by_loose is None:
            self._by_loose = {}
            for rid in sorted(self.known):
                self._by_loose.setdefault(_loose_id(rid), []).append(rid)
        return [rid for rid in self._by_loose.get(_loose_id(found), ()) if rid != found]

    def forget(self) -> None:
        """The known ids changed (a row added or removed later): build the look-up again when asked."""
        self._by_loose = None

    def hint(self, found: str) -> str:
        """' (did you mean 007?)', or '' when no known id is that close."""
        near = self.near(found)
        return f" (did you mean {' or '.join(near)}?)" if near else ""


class Refs(NamedTuple):
    """The people and sessions read (and those on rows that could not be used), for references."""

    person_ids: set[str]
    rejected_people: set[str]
    session_ids: set[str]
    rejected_sessions: set[str]
    near_people: NearIds
    near_sessions: NearIds
    former_people: frozenset[str] = frozenset()
    """People coprod knew in the people list before (ids only, from the state store): one named on
    a row but no longer in the list was removed from it, as when someone asks to be deleted."""
    deleted_advice: Mapping[Entity, str] = MappingProxyType({})
    """What staff do about the rows of someone removed, by the entity of the row (whose tool its flag
    goes to); :data:`DELETE_ROWS` for an entity not in it."""

    def removed_person(self, pid: str) -> bool:
        """Whether ``pid`` names someone removed from the people list: known before, not there now."""
        return pid in self.former_people and pid not in self.person_ids and pid not in self.rejected_people

    def person_reason(self, pid: str) -> str:
        if pid in self.rejected_people:
            return f"person ID {pid} is on a people row that could not be used (see the flag on that row)"
        return f"person ID {pid} is not in the people list{self.near_people.hint(pid)}"

    def session_reason(self, sid: str) -> str:
        if sid in self.rejected_sessions:
            return f"session ID {sid} is on a sessions row that could not be used (see the flag on that row)"
        return f"session ID {sid} is not in the sessions list{self.near_sessions.hint(sid)}"

    def flag_unknown(self, reader: FieldReader, row: Row, field_name: str, found: str, outcome: str) -> None:
        """Flag ``found``, a ``person_id`` or ``session_id`` naming nobody read, saying why it is
        unknown and ``outcome``: what became of the row."""
        if field_name == "person_id":
            problem, reason, fix, near = (
                "unknown_person",
                self.person_reason(found),
                "the person to the people list",
                self.near_people,
            )
        else:
            problem, reason, fix, near = (
                "unknown_session",
                self.session_reason(found),
                "the session to the sessions list",
                self.near_sessions,
            )
        column = reader.column(field_name)
        evidence: dict[str, Any] = {"found": found}
        if close := near.near(found):
            evidence["did_you_mean"] = close
        if field_name == "person_id" and self.removed_person(found):
            # Its words only: the evidence (and so the facts and the fingerprint) is what any
            # unknown person's is, so a flag raised before keeps staff's answer to it.
            deleted = self.deleted_advice.get(reader.entity, DELETE_ROWS)
            words = f"person ID {found} {REMOVED_PERSON_ROW.format(outcome=outcome, deleted=deleted)}"
        else:
            words = f"{reason}. {outcome} Fix the ID, or add {fix}."
        reader.problems.add(
            problem,
            reader.entity,
            row,
            column=column,
            field_name=field_name,
            message=f"{where(row, column, reader.entity, field_name)}: {words}",
            evidence=evidence,
        )
