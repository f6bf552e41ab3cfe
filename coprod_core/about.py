"""Who or what each flag is about, in words a project worker recognises.

A flag's subject is an id ("person 17"); staff reading a flags file want "Sam Carter (ID 17)",
"Budget meeting, 20 February 2026 (ID S13)" or "Day service redesign (ID DSR)". The words come
from the dataset of the run that raised the flag, so they are never stored in the state (names
stay in the tools); a subject the dataset does not hold keeps its id.
"""

from __future__ import annotations

from collections.abc import Sequence

from coprod_core.flags import Flag, SubjectKind
from coprod_core.model import KIND_WORDS, Dataset
from coprod_core.text import day, visible


class SubjectWords:
    """Describes subjects from one dataset, with its look-ups built once."""

    def __init__(self, dataset: Dataset) -> None:
        self.people = dataset.people_by_id()
        self.sessions = dataset.sessions_by_id()
        self.projects = dataset.projects_by_id()

    def about(self, flag: Flag) -> str:
        """Who or what ``flag`` is about, characters nobody can see shown (``\\t``, ``<U+200B>``)."""
        return visible(self._words(flag))

    def _words(self, flag: Flag) -> str:
        kind, subject_id = flag.subject.kind, flag.subject.id
        if kind is SubjectKind.PERSON:
            person = self.people.get(subject_id)
            name = person.name.strip() if person and person.name else ""
            return f"{name} (ID {subject_id})" if name else f"person ID {subject_id}"
        if kind is SubjectKind.SESSION:
            session = self.sessions.get(subject_id)
            if session is None:
                return f"session ID {subject_id}"
            title = (session.title or "").strip() or KIND_WORDS[session.kind].capitalize()
            return f"{title}, {day(session.date)} (ID {subject_id})"
        if kind is SubjectKind.PROJECT:
            project = self.projects.get(subject_id)
            return f"{project.name} (ID {subject_id})" if project else f"project ID {subject_id}"
        row = flag.evidence.get("row")  # a row that could not be used: where it is
        return str(row) if row else str(flag.subject)


def with_about(flags: Sequence[Flag], dataset: Dataset) -> list[Flag]:
    """The flags, each with :attr:`Flag.about` filled in from ``dataset``."""
    words = SubjectWords(dataset)
    return [f.model_copy(update={"about": words.about(f)}) for f in flags]
