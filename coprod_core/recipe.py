"""The recipe: one project's set-up, declared as data and validated before anything runs.

A recipe (TOML) says where each entity comes from (a source: a connector and its location), how
the source's columns map onto the canonical model (field names and value maps), and carries the
baseline, the payment policy and the check settings. Secrets are never in a recipe: a recipe only
*names* the environment variable that holds one (``token_env = "KOBO_TOKEN"``).

This module only validates a mapping that was already parsed; reading the file is the app's job.
"""

# Annotations evaluated as the classes are made: see coprod_core.model.

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from coprod_core.defaults import new_list
from coprod_core.model import (
    NO_PLAN_BEFORE,
    BaselineDimension,
    PaymentKind,
    PaymentPolicy,
    PaymentPreference,
    Role,
    Rung,
    SessionKind,
    Stage,
)
from coprod_core.settings import CheckSettings


class Entity(StrEnum):
    PEOPLE = "people"
    PROJECTS = "projects"
    SESSIONS = "sessions"
    ATTENDANCE = "attendance"
    PAYMENTS = "payments"


class FieldSpec(NamedTuple):
    """A canonical field: must a recipe map it, and how is a cell read."""

    required: bool
    kind: str
    """text, multi (a list), enum, date, plan_date (a date, or ``no_plan_before``: no plan existed
    before people in the voice roles took part), hours, money, money+ (not negative) or bool."""
    enum: type[StrEnum] | None = None


CANONICAL_FIELDS: dict[Entity, dict[str, FieldSpec]] = {
    Entity.PEOPLE: {
        "id": FieldSpec(True, "text"),
        "name": FieldSpec(False, "text"),
        "roles": FieldSpec(True, "multi", Role),
        "payment_preference": FieldSpec(False, "enum", PaymentPreference),
        "benefits_opt_in": FieldSpec(False, "bool"),
        "supported": FieldSpec(False, "bool"),
    },
    Entity.PROJECTS: {
        "id": FieldSpec(True, "text"),
        "name": FieldSpec(True, "text"),
        "label": FieldSpec(False, "enum", Rung),
        "stages_reached": FieldSpec(False, "multi", Stage),
        "plan_drafted": FieldSpec(False, "plan_date"),
        "co_chair_roles": FieldSpec(False, "multi", Role),
        "co_chairs": FieldSpec(False, "multi"),
        "decision_group": FieldSpec(False, "multi"),
        "recruitment_opened": FieldSpec(False, "date"),
        "values_agreed": FieldSpec(False, "date"),
        "values_reviewed": FieldSpec(False, "date"),
    },
    Entity.SESSIONS: {
        "id": FieldSpec(True, "text"),
        # Optional in a recipe (one project needs no column), but every session needs one.
        "project_id": FieldSpec(False, "text"),
        "date": FieldSpec(True, "date"),
        "hours": FieldSpec(True, "hours"),
        "kind": FieldSpec(True, "enum", SessionKind),
        "stage": FieldSpec(False, "enum", Stage),
        "title": FieldSpec(False, "text"),
        "decision_taken": FieldSpec(False, "bool"),
        "decision": FieldSpec(False, "text"),
        "fed_back": FieldSpec(False, "date"),
    },
    Entity.ATTENDANCE: {
        "person_id": FieldSpec(True, "text"),
        "session_id": FieldSpec(True, "text"),
        "hours": FieldSpec(False, "hours"),
        "prep_hours": FieldSpec(False, "hours"),
        "expenses_claimed": FieldSpec(False, "money+"),
    },
    Entity.PAYMENTS: {
        "id": FieldSpec(False, "text"),
        "person_id": FieldSpec(True, "text"),
        "amount": FieldSpec(True, "money"),
        "date": FieldSpec(True, "date"),
        "kind": FieldSpec(False, "enum", PaymentKind),
        "session_id": FieldSpec(False, "text"),
    },
}
"""What each entity can map, one table for the recipe's validation and the mapping's parsers."""

REQUIRED_ENTITIES = (Entity.PEOPLE, Entity.SESSIONS, Entity.ATTENDANCE)

ADDRESS_WITH_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*:[^/?#@]*@")
"""An address with a user and password before its host (``https://user:password@host/``)."""
SECRET_KEY_HINTS = ("token", "key", "secret", "password", "credential")
"""Option names that look like secrets: a recipe may only name an env var (``*_env``) for them."""


KEY_LIKE_PART = r"[A-Z0-9]{16,}"
"""A stretch of 16 capitals and digits with no ``_`` in it: a random key's shape, not a name's. Kept
as text and compiled where first used (``re``'s cache keeps it), as :data:`PASSWORD_IN_QUERY` is: a
recipe naming no variable and no state address uses neither, and every start imports this module."""


def _looks_like_a_key(value: str) -> bool:
    """Whether a value written in a name's characters is more likely a key made only of capitals
    and digits (some CiviCRM API keys, a key typed in capitals): a part of 16 or more characters
    between ``_`` with at least 4 digits in it. Names people give variables are words
    (``GOOGLE_APPLICATION_CREDENTIALS``, ``CIVICRM_API_KEY_2024``)."""
    return any(sum(c.isdigit() for c in m) >= 4 for m in re.findall(KEY_LIKE_PART, value))


def _variable_name(value: str) -> str:
    # The value is never repeated: a token pasted here by mistake must not reach a log, and
    # "add <it>=... to .env" would print it under cron.
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", value):
        raise ValueError(
            "must be the NAME of an environment variable (capitals, digits and _, e.g. KOBO_TOKEN); "
            "the secret itself goes in .env"
        )
    if _looks_like_a_key(value):
        raise ValueError(
            "looks like a key itself (not shown), not the NAME of the environment variable that "
            "holds one: put the key in .env as NAME=key, and write that NAME here (e.g. KOBO_TOKEN)"
        )
    return value


EnvName = Annotated[str, AfterValidator(_variable_name)]
"""The name of an environment variable holding a secret (``token_env = "KOBO_TOKEN"``)."""


class _Strict(BaseModel):
    """A run validates a recipe whole, with :class:`Recipe`'s validator, which holds its sections'
    own: each model's validator is built when something first validates it (``defer_build``), so a
    section's is never built in a run, and a command that reads no recipe builds none."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SourceSpec(BaseModel):
    """Where rows come from and flags go back: a connector and its options.

    Options other than ``connector`` and ``write_back`` belong to the connector, which validates
    them with its own model (so an unknown option is an error there, naming this section).
    """

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)  # as _Strict

    connector: str
    write_back: bool = True

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _no_inline_secrets(self) -> "SourceSpec":
        for name, value in (self.model_extra or {}).items():
            lowered = name.lower()
            if lowered.endswith("_env") or not isinstance(value, str):
                continue
            if ADDRESS_WITH_PASSWORD.match(value.strip()):
                # Said without the value: it would be printed, and every error naming the host showed it.
                raise ValueError(
                    f"'{name}' holds a password in its address (user:password@): take it out; coprod "
                    "signs in with the key named in .env, and a password in a recipe would be shown"
                )
            if any(h in lowered for h in SECRET_KEY_HINTS) and not lowered.endswith(
                ("_file_env", "_path", "_file")
            ):
                raise ValueError(
                    f"'{name}' looks like a secret: put it in .env and name its variable "
                    f"here as '{name}_env = \"VARIABLE_NAME\"'"
                )
        return self


class EntitySpec(_Strict):
    """How one entity is read: from which source, where in it, and how its fields map."""

    source: str
    location: str | None = None
    """A file name, a tab name, an asset uid or an API entity: whatever the connector needs."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Canonical field -> column or field name in the source."""
    defaults: dict[str, str] = Field(default_factory=dict)
    """Canonical field -> value used when the column is absent or empty."""
    demographics: dict[str, str] = Field(default_factory=dict)
    """(people only) dimension -> column holding the equality-monitoring answer."""
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Canonical field or dimension -> {value in the source: canonical value}."""
    separator: str = ";"
    """Splits multi-valued cells (roles, stages, decision group)."""
    day_first: bool = True
    """Read 03/04/2026 as 3 April (UK). Set false for US-style month-first dates."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Connector-specific settings for this entity (validated by the connector)."""


class InlineProject(_Strict):
    """A project declared in the recipe itself, for set-ups with no projects table."""

    id: str
    name: str
    label: Rung = Rung.CO_PRODUCTION
    stages_reached: list[Stage] = Field(default_factory=new_list)
    plan_drafted: date | Literal["no_plan_before"] | None = None
    """A date, or ``"no_plan_before"`` when no plan existed before people took part."""
    co_chair_roles: list[Role] = Field(default_factory=new_list)
    co_chairs: list[str] = Field(default_factory=new_list)
    decision_group: list[str] = Field(default_factory=new_list)
    recruitment_opened: date | None = None
    values_agreed: date | None = None
    values_reviewed: date | None = None

    @field_validator("plan_drafted", mode="before")
    @classmethod
    def _plan_date_or_no_plan(cls, value: Any) -> Any:
        """``"no plan before"`` as README and the sheets' cells write it (any capitals, spaces or
        underscores), as well as ``no_plan_before``; any other text that is not a date is said in
        one line. Left to pydantic, "no plan before" (the README's own words) was refused with two
        errors per project, one per member of the union, in code words (``literal['no_plan_before']``)."""
        if not isinstance(value, str):
            return value
        if " ".join(value.replace("_", " ").replace("-", " ").split()).lower() == "no plan before":
            return NO_PLAN_BEFORE
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"'{value}' is neither a date (such as 2026-02-12) nor \"no plan before\" (no plan "
                "existed before people with lived experience took part)"
            ) from None


PASSWORD_IN_QUERY = r"(?i)[?&]\s*password\s*="
"""A libpq ``password=`` among an address's parameters (``postgresql://host/db?password=...``)."""


class StateSpec(_Strict):
    path: str | None = None
    """SQLite file for the state store, relative to the recipe (``COPROD_STATE`` overrides), or a
    PostgreSQL address without its password."""

    @field_validator("path")
    @classmethod
    def _no_password(cls, path: str | None) -> str | None:
        """A PostgreSQL password is a secret, and secrets come only from the environment or ``.env``:
        refused here without the value (the address is shown in messages, with its password left
        out, but the recipe itself is copied, mailed and kept in version control)."""
        if path is not None and (
            ADDRESS_WITH_PASSWORD.match(path.strip()) or re.search(PASSWORD_IN_QUERY, path)
        ):
            raise ValueError(
                "holds a password in its address: take it out and put the whole address in COPROD_STATE "
                "in the .env beside the recipe (secrets are never in a recipe)"
            )
        return path


class WebhookSpec(_Strict):
    """How the webhook app authenticates deliveries for this recipe (secrets by env var name)."""

    secret_env: EnvName | None = None
    """Variable holding the shared secret (KoboToolbox header) or signing secret (Standard Webhooks)."""
    header: str = "X-Coprod-Secret"


def wiring_problems(
    sources: dict[str, SourceSpec],
    entities: dict[Entity, EntitySpec],
    projects: list[InlineProject],
    most_hours: Decimal | None = None,
) -> list[str]:
    """What is wrong with how entities, sources and fields fit together (all of it, at once).
    ``most_hours``: the most hours one session can take (the recipe's setting), which a default
    for hours must not pass; None when the settings are not valid (they are reported apart)."""
    problems: list[str] = []
    for entity in REQUIRED_ENTITIES:
        if entity not in entities:
            problems.append(f"[entities.{entity.value}] is missing: every recipe needs it")
    if Entity.PROJECTS not in entities and not projects:
        problems.append("no projects: add [entities.projects] or at least one [[projects]]")
    if Entity.PROJECTS in entities and projects:
        problems.append("projects come from [entities.projects] or [[projects]], not both")
    for entity, spec in entities.items():
        where = f"[entities.{entity.value}]"
        if spec.source not in sources:
            problems.append(
                f"{where} source '{spec.source}' is not one of [sources]: "
                f"{', '.join(sorted(sources)) or 'none defined'}"
            )
        known = CANONICAL_FIELDS[entity]
        for field in [*spec.fields, *spec.defaults]:
            if field not in known:
                problems.append(f"{where} field '{field}' is unknown; expected one of {', '.join(known)}")
        for field, value in spec.defaults.items():
            if not value.strip():
                # A blank cell reads as the default: a blank default would be read in its place
                # again, and again (it stopped the run with a RecursionError).
                problems.append(
                    f"{where} default for '{field}' is empty: write the value a row without one "
                    "should take, or remove the default"
                )
            elif field in known and (expected := _unreadable_default(entity, spec, field, most_hours)):
                problems.append(f"{where} default for '{field}': '{value.strip()}' is not {expected}")
        for field, fspec in known.items():
            if fspec.required and field not in spec.fields and field not in spec.defaults:
                problems.append(f"{where} required field '{field}' is not mapped in fields")
        if spec.demographics and entity is not Entity.PEOPLE:
            problems.append(f"{where} demographics belong to [entities.people] only")
        for field, table in spec.values.items():
            if field not in known and field not in spec.demographics:
                problems.append(f"{where} values for '{field}': not a mapped field or demographic dimension")
            elif field in known:
                problems.extend(
                    _unreadable_targets(f"[entities.{entity.value}.values.{field}]", known[field], table)
                )
    return problems


def _unreadable_default(
    entity: Entity, spec: EntitySpec, field: str, most_hours: Decimal | None
) -> str | None:
    """:func:`coprod_core.mapping.fields.unreadable_default`: a default as the mapping reads it."""
    from coprod_core.mapping.fields import unreadable_default  # the mapping imports this module

    return unreadable_default(entity, spec, field, most_hours)


def _unreadable_targets(where: str, field: FieldSpec, table: dict[str, str]) -> list[str]:
    """Each entry of a values map whose right-hand side its field cannot take ("Carer" = "wizard"):
    said here, once, rather than as every row's cell being not understood, with advice to add to
    the map the very entry that is already there."""
    from coprod_core.mapping.cells import Bad, parser_for  # the mapping imports this module

    parse = parser_for(field.kind, field.enum, day_first=True)
    problems = []
    for answer, target in table.items():
        parts = [p for p in re.split(r"[;,]", target) if p.strip()] if field.kind == "multi" else [target]
        for part in parts or [target]:
            try:
                parse(part)
            except Bad as bad:
                problems.append(f'{where} "{answer}" = "{target}": \'{part.strip()}\' is not {bad.expected}')
                break
    return problems


class _Wiring(BaseModel):
    """The parts of a recipe that wiring_problems reads, validated alone so that its problems are
    reported even when another section has errors (pydantic skips model checks then)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)  # used for a recipe with errors only

    sources: dict[str, SourceSpec] = Field(default_factory=dict)
    entities: dict[Entity, EntitySpec] = Field(default_factory=dict)
    projects: list[InlineProject] = Field(default_factory=new_list)


RECIPE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A recipe's ``name``: it names the recipe's state and its webhook addresses (``/hooks/kobotoolbox/NAME``)."""


class Recipe(_Strict):
    name: str
    description: str = ""
    sources: dict[str, SourceSpec]
    entities: dict[Entity, EntitySpec]
    projects: list[InlineProject] = Field(default_factory=new_list)
    baseline: dict[str, BaselineDimension] = Field(default_factory=dict)
    policy: PaymentPolicy | None = None
    settings: CheckSettings = CheckSettings.model_construct()  # the defaults, as CheckSettings says
    state: StateSpec = StateSpec.model_construct()
    webhook: WebhookSpec = WebhookSpec.model_construct()
    timezone: str | None = None
    """The organisation's time zone, an IANA name such as ``Europe/London``: what date "today" is
    for its checks (``coprod.clock``). None: the machine's own zone. Only the text is kept here; the
    command line checks that the machine knows the name (reading the tz database is I/O)."""

    @field_validator("name")
    @classmethod
    def _name_is_slug(cls, v: str) -> str:
        if not RECIPE_NAME.fullmatch(v):
            raise ValueError("use letters, digits, '-', '_' or '.' (it names the state and the URL)")
        return v

    @model_validator(mode="after")
    def _entities_fit(self) -> "Recipe":
        most_hours = self.settings.data_quality.max_session_hours
        problems = wiring_problems(self.sources, self.entities, self.projects, most_hours)
        if problems:
            raise ValueError("\n".join(problems))  # a line each: a problem may quote a "; "
        return self

    def entity_source(self, entity: Entity) -> str | None:
        spec = self.entities.get(entity)
        return spec.source if spec else None


class RecipeProblem(BaseModel):
    """One thing wrong with a recipe, said with where it is (built when the first is: ``defer_build``)."""

    model_config = ConfigDict(defer_build=True)

    file: str
    section: str
    message: str

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.section, self.message) if part)


def section_name(loc: tuple[Any, ...]) -> str:
    """Where a key sits in a recipe, as every message names it: ``[sources.sheet] spreadsheet``
    (list positions left out; a top-level table as ``[policy]``), except a policy change's, counted
    from 1 as they are written (``[policy.changes[2]] from``): each ``[[policy.changes]]`` has the
    same keys, so without it nobody could tell which one is meant; the same for a ``[[projects]]``
    (``[projects[2]] plan_drafted``)."""
    parts: list[str] = []
    for p in loc:
        if not isinstance(p, int):
            parts.append(str(p))
        elif parts[-2:] == ["policy", "changes"]:
            parts[-1] = f"changes[{p + 1}]"
        elif parts == ["projects"]:
            parts[-1] = f"projects[{p + 1}]"
    if not parts:
        return ""
    *table, last = parts
    return f"[{'.'.join(table)}] {last}" if table else f"[{last}]" if last in _TABLES else last


_TABLES = {"sources", "entities", "projects", "baseline", "policy", "settings", "state", "webhook"}


def describe_errors(error: ValidationError, file: str, within: Sequence[str] = ()) -> list[RecipeProblem]:
    """Turn pydantic's errors into problems a person can fix: file, section, field, expectation.

    ``within``: where the validated table sits in the recipe (``("sources", "kobo")``), for a
    part validated on its own, such as a connector's options.
    """
    problems: list[RecipeProblem] = []
    for e in error.errors(include_url=False):
        loc = (*within, *e["loc"])
        kind = e["type"]
        msg = e["msg"]
        if loc and loc[-1] == "[key]":
            # a table's own key is not one coprod knows ([policy.rates] decison_meeting, [entities.session]):
            # pydantic says "[key]: Input should be ...", which names neither the key nor what to do
            loc = loc[:-1]
            expected = (e.get("ctx") or {}).get("expected")
            msg = "unknown key (check the spelling)" + (f": use one of {expected}" if expected else "")
        elif kind == "extra_forbidden":
            msg = "unknown key (check the spelling; see the recipe README for the keys allowed)"
        elif kind == "missing":
            msg = "required key is missing"
        elif kind == "value_error":
            msg = msg.removeprefix("Value error, ")
            if "\n" in msg and not loc:
                problems.extend(RecipeProblem(file=file, section="", message=m) for m in msg.split("\n"))
                continue
        else:
            got = e.get("input")
            if not isinstance(got, (dict, list)) and not any(h in str(loc).lower() for h in SECRET_KEY_HINTS):
                msg = f"{msg} (got {got!r})"
        section = f"[{'.'.join(within)}]" if within and not e["loc"] else section_name(loc)
        problems.append(RecipeProblem(file=file, section=section, message=msg))
    return problems


def parse_recipe(data: dict[str, Any], file: str) -> tuple[Recipe | None, list[RecipeProblem]]:
    """Validate a parsed recipe. Returns the recipe, or None and every problem found at once."""
    try:
        return Recipe.model_validate(data), []
    except ValidationError as error:
        problems = describe_errors(error, file)
    try:
        wiring = _Wiring.model_validate(data)
    except ValidationError:
        return None, problems  # already reported above, field by field
    seen = {p.message for p in problems}
    try:
        most_hours: Decimal | None = CheckSettings.model_validate(
            data.get("settings", {})
        ).data_quality.max_session_hours
    except ValidationError:  # reported above; a default's hours are judged when the settings read
        most_hours = None
    for message in wiring_problems(wiring.sources, wiring.entities, wiring.projects, most_hours):
        if message not in seen:
            problems.append(RecipeProblem(file=file, section="", message=message))
    return None, problems
