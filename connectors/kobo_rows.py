"""Turning KoboToolbox submissions into raw rows: group paths, repeats, multiple choices, "other".

KoboToolbox hands over every answer as text under its full path (``group/question``), a repeat
as a list of dicts keyed by full paths, a multiple-choice answer as space-separated choice names
and an "other, please specify" answer as ``other`` plus a ``<question>_other`` text. Staff write
recipes with the question names they see in the form builder, so a recipe may name a question by
its full path or by its last segment when that is unambiguous. Everything here is pure: it works
on the JSON already fetched, so it can be tested without a server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from pydantic import Field

from coprod.connectors.base import ConfigError, ConnectorEntityOptions
from coprod_core.defaults import new_list
from coprod_core.recipe import Entity, EntitySpec, RecipeProblem
from coprod_core.rows import Row

MULTI_VALUED: dict[Entity, tuple[str, ...]] = {
    Entity.PEOPLE: ("roles",),
    Entity.PROJECTS: ("stages_reached", "co_chair_roles", "decision_group"),
}
"""Canonical fields that hold several values: a select_multiple answer mapped to them becomes a list."""

SYSTEM_PREFIXES = ("_", "meta/", "formhub/")
"""Keys KoboToolbox adds to every submission; they are never questions of the form."""


class KoboEntityOptions(ConnectorEntityOptions):
    """``[entities.X.options]`` for an entity read from KoboToolbox."""

    repeat: str | None = None
    """Read one row per entry of this repeat group (e.g. ``attendees``), with the parent's answers."""
    other: dict[str, str] = Field(default_factory=dict)
    """Question -> its "please specify" question, when it is not named ``<question>_other``."""
    other_value: str = "other"
    """The choice name that means "other, please specify"."""
    select_multiple: list[str] = Field(default_factory=new_list)
    """More questions to split into lists (the multi-valued canonical fields are split anyway)."""

    @classmethod
    def check_entity(
        cls, entity: Entity, spec: EntitySpec, file: str = ""
    ) -> tuple[Self | None, list[RecipeProblem]]:
        """The options, and a ``location`` that is a form's whole address rather than its uid, or
        the uid with a space around it: README step 2 says to take the part after /forms/, and
        either was valid, every request then asking KoboToolbox for a form of that name ("not
        found")."""
        options, problems = super().check_entity(entity, spec, file)
        location = spec.location or ""
        where = f"[entities.{entity.value}] location"
        if re.search(r"[/#:\s]", location.strip()):
            found = re.search(r"/forms/([A-Za-z0-9_-]+)", location)
            example = f": here, {found[1]}" if found else ""
            problems.append(
                RecipeProblem(
                    file=file,
                    section=where,
                    message=f"give the form's uid alone, the part after /forms/ in the form's address{example}",
                )
            )
        elif location != location.strip():
            # every request would ask for the form named with the space ('%20aBcD123xyz'), and
            # KoboToolbox answer "not found", sending staff to the form's sharing settings
            problems.append(
                RecipeProblem(
                    file=file,
                    section=where,
                    message=f'the form\'s uid has a space before or after it: write it as "{location.strip()}", '
                    "with nothing around it (KoboToolbox would look for a form named with the space, and "
                    "find none)",
                )
            )
        return options, problems


def entity_options(entity: Entity, spec: EntitySpec) -> KoboEntityOptions:
    """The entity's options, checked as ``coprod validate`` checks them."""
    return KoboEntityOptions.of(entity, spec)


def is_system(name: str) -> bool:
    return name.startswith(SYSTEM_PREFIXES)


def submission_id(submission: Mapping[str, Any]) -> int:
    return int(submission["_id"])


def _instance_id(submission: Mapping[str, Any]) -> str:
    return str(submission.get("meta/instanceID") or f"uuid:{submission.get('_uuid', '')}")


def root_uuid(submission: Mapping[str, Any]) -> str:
    """The uuid that stays the same across edits (``meta/rootUuid``; older data: ``_uuid``)."""
    root = submission.get("meta/rootUuid") or submission.get("_uuid") or ""
    return str(root).removeprefix("uuid:")


def _replaces(newer: Mapping[str, Any], older: Mapping[str, Any]) -> bool:
    return bool(newer.get("meta/deprecatedID")) and newer.get("meta/deprecatedID") == _instance_id(older)


def deduplicate(submissions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One submission per ``_id`` (and per root uuid), the latest version kept, sorted by ``_id``.

    An edit keeps ``_id`` and ``meta/rootUuid`` and records the replaced version in
    ``meta/deprecatedID``; the version that deprecates the other wins, else the one seen later.
    """
    by_key: dict[str, dict[str, Any]] = {}
    alias: dict[str, str] = {}
    for raw in submissions:
        sub = dict(raw)
        keys = [f"id:{submission_id(sub)}"]
        root = root_uuid(sub)
        if root:
            keys.append(f"root:{root}")
        existing = next((alias[k] for k in keys if k in alias), None)
        if existing is not None:
            kept = by_key[existing]
            if _replaces(kept, sub):
                continue  # what we hold already replaces this older version
            del by_key[existing]
        slot = keys[0]
        by_key[slot] = sub
        for k in keys:
            alias[k] = slot
        if existing is not None and existing != slot:
            for k, v in list(alias.items()):
                if v == existing:
                    alias[k] = slot
    return sorted(by_key.values(), key=submission_id)


def _text(value: Any) -> str | None:
    """Answers are text; numbers and booleans from other tools are turned into text too."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def scalars(data: Mapping[str, Any]) -> dict[str, str]:
    return {k: t for k, v in data.items() if (t := _text(v)) is not None}


class AmbiguousField(ConfigError):
    pass


def resolve(name: str, keys: Iterable[str]) -> str | None:
    """The full path a recipe's question name stands for: itself, or the one path ending in it."""
    keys = set(keys)
    if name in keys:
        return name
    matches = sorted(k for k in keys if k.endswith("/" + name))
    if len(matches) > 1:
        raise AmbiguousField(
            f"the question name '{name}' matches {', '.join(matches)}: write its full path instead"
        )
    return matches[0] if matches else None


@dataclass(frozen=True)
class Plan:
    """How one entity's rows are built from an asset's submissions, worked out once per read."""

    names: tuple[str, ...]
    multi: frozenset[str]
    other: Mapping[str, str]
    other_value: str
    repeat: str | None


def plan_for(entity: Entity, spec: EntitySpec, options: KoboEntityOptions) -> Plan:
    names = [*spec.fields.values(), *spec.demographics.values(), *options.select_multiple]
    multi = {spec.fields[f] for f in MULTI_VALUED.get(entity, ()) if f in spec.fields}
    multi.update(options.select_multiple)
    return Plan(
        names=tuple(dict.fromkeys(names)),
        multi=frozenset(multi),
        other=dict(options.other),
        other_value=options.other_value,
        repeat=options.repeat,
    )


def key_union(records: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every key any of these records has (submissions differ: an unanswered question is left out)."""
    keys: set[str] = set()
    for r in records:
        keys.update(r)
    return keys


def _resolve_all(names: Sequence[str], layers: Sequence[set[str]], where: str) -> dict[str, str]:
    """name -> full key, looking in each layer in turn (a repeat entry before its parent)."""
    out: dict[str, str] = {}
    for name in names:
        for keys in layers:
            try:
                found = resolve(name, keys)
            except AmbiguousField as exc:
                raise AmbiguousField(f"{where}: {exc}") from None
            if found is not None:
                out[name] = found
                break
    return out


def _apply(
    values: dict[str, Any], source: Mapping[str, str], resolved: Mapping[str, str], plan: Plan
) -> dict[str, Any]:
    """Add each recipe name's answer (split, "other" replaced) under the recipe's name."""
    for name, key in resolved.items():
        raw = source.get(key)
        if raw is None:
            continue
        other_key = plan.other.get(name)
        other_key = resolve(other_key, source) if other_key else f"{key}_other"
        other_text = (source.get(other_key) or "").strip() if other_key else ""
        value: Any
        if name in plan.multi:
            items = raw.split()
            if other_text:
                items = [other_text if i == plan.other_value else i for i in items]
            value = items
        else:
            value = other_text if raw.strip() == plan.other_value and other_text else raw
        values[name] = value
        values[key] = value
    return values


def build_rows(
    entity: Entity,
    spec: EntitySpec,
    plan: Plan,
    submissions: Sequence[Mapping[str, Any]],
    among: Sequence[Mapping[str, Any]] | None = None,
) -> list[Row]:
    """Rows for an entity: one per submission, or one per repeat entry with the parent's answers.

    ``among``: the submissions whose questions the recipe's names are found in (default: these), so
    one submission taken alone is read as it is read with the rest of its form."""
    where = f"[entities.{entity.value}]"
    among = submissions if among is None else among
    parent_keys = key_union(among)
    if plan.repeat is None:
        resolved = _resolve_all(plan.names, [parent_keys], where)
        rows = []
        for sub in submissions:
            flat = scalars(sub)
            sid = submission_id(sub)
            rows.append(
                Row(ref=f"submission {sid}", values=_apply(dict(flat), flat, resolved, plan), key=str(sid))
            )
        return rows

    list_keys = {k for sub in among for k, v in sub.items() if isinstance(v, list) and not is_system(k)}
    repeat_key = resolve(plan.repeat, list_keys)
    if repeat_key is None:
        return []  # no submission has an entry in this repeat yet
    entries_of = [[e for e in (sub.get(repeat_key) or []) if isinstance(e, Mapping)] for sub in submissions]
    entry_keys = key_union(e for sub in among for e in (sub.get(repeat_key) or []) if isinstance(e, Mapping))
    resolved = _resolve_all(plan.names, [entry_keys, parent_keys], where)
    word = "attendee" if entity is Entity.ATTENDANCE else "entry"
    rows = []
    for sub, entries in zip(submissions, entries_of, strict=True):
        parent = scalars(sub)
        sid = submission_id(sub)
        for n, entry in enumerate(entries, start=1):
            flat = {**parent, **scalars(entry)}
            rows.append(
                Row(
                    ref=f"submission {sid} {word} {n}",
                    values=_apply(dict(flat), flat, resolved, plan),
                    key=f"{sid}/{n}",
                )
            )
    return rows


@dataclass(frozen=True)
class SurveyNode:
    """One named row of a form: a question, a group or a repeat, with its full path."""

    kind: str
    name: str
    path: str


def survey_nodes(content: Mapping[str, Any]) -> list[SurveyNode]:
    """The named rows of a form's content (KPI's ``content.survey``), each with its full path."""
    stack: list[str] = []
    nodes: list[SurveyNode] = []
    for row in content.get("survey") or []:
        kind = str(row.get("type", "")).replace(" ", "_")
        name = str(row.get("name") or row.get("$autoname") or "")
        if kind in ("end_group", "end_repeat"):
            if stack:
                stack.pop()
            continue
        if kind in ("begin_group", "begin_repeat"):
            stack.append(name)
            nodes.append(SurveyNode(kind, name, "/".join(stack)))
        elif name:
            nodes.append(SurveyNode(kind, name, "/".join([*stack, name])))
    return nodes


def survey_paths(content: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """Question paths and repeat paths of a form's content (KPI's ``content.survey`` rows)."""
    paths: set[str] = set()
    repeats: set[str] = set()
    for node in survey_nodes(content):
        (repeats if node.kind == "begin_repeat" else paths).add(node.path)
    return paths, repeats


def repeated_names(content: Mapping[str, Any]) -> dict[str, list[str]]:
    """Names used more than once in a form (name -> the full paths using it), groups and repeats included.

    KoboToolbox (since July 2026) refuses to import or deploy such a form: "Duplicate node name".
    """
    paths: dict[str, list[str]] = {}
    for node in survey_nodes(content):
        if node.name:
            paths.setdefault(node.name, []).append(node.path)
    return {name: found for name, found in paths.items() if len(found) > 1}
