"""The canonical model: what coprod knows about a co-production project.

Every connector maps its rows into these types, and every check reads only these types. They are
pydantic models so that a row that does not fit is caught at the edge (by the mapping, which turns
the error into a data-quality flag) and the checks can trust what they are given.

Money is ``Decimal`` everywhere: a payment check that rounds floats owes someone 0.01 forever.
"""

# Annotations are evaluated as the classes are made (no ``from __future__ import annotations``):
# pydantic would otherwise compile and evaluate each field's annotation from its text, and
# typing each named tuple field's, at every start of coprod. A class named before it is made is
# written in quotes. Starting coprod: 717.2 to 706.6 million instructions with recipe, settings
# and flags made so too.

import datetime
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Frozen(BaseModel):
    """Each model's validator is built when something first validates one (``defer_build``), not
    at every start of ``coprod``: a run validates a policy only inside a recipe (whose validator
    holds its own), and never validates the models the mapping makes (:class:`_Mapped`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class _Mapped(_Frozen):
    """What the mapping builds from rows, each with ``model_construct`` from values it has already
    read and checked, so a run never validates one: pydantic builds their validators only when
    something does (a test, a program using the core), not at every start of ``coprod``."""


class Role(StrEnum):
    """What someone brings to the project. A person may hold several roles."""

    LIVED_EXPERIENCE = "lived_experience"
    CARER = "carer"
    FRONTLINE_STAFF = "frontline_staff"
    MANAGER = "manager"
    COMMISSIONER = "commissioner"
    VOLUNTEER = "volunteer"
    OTHER = "other"


ROLE_WORDS: dict[Role, str] = {
    Role.LIVED_EXPERIENCE: "lived experience",
    Role.CARER: "carer",
    Role.FRONTLINE_STAFF: "frontline staff",
    Role.MANAGER: "manager",
    Role.COMMISSIONER: "commissioner",
    Role.VOLUNTEER: "volunteer",
    Role.OTHER: "other",
}


class PaymentPreference(StrEnum):
    """How someone wants to be recognised for their time."""

    PAID = "paid"
    VOUCHER = "voucher"
    DECLINED = "declined"
    NOT_ELIGIBLE = "not_eligible"


class Stage(StrEnum):
    """The stages of a service's life that co-production should span (NHS England 2022, TLAP)."""

    DESIGN = "design"
    PLANNING = "planning"
    DELIVERY = "delivery"
    EVALUATION = "evaluation"


STAGE_ORDER: tuple[Stage, ...] = (Stage.DESIGN, Stage.PLANNING, Stage.DELIVERY, Stage.EVALUATION)


class SessionKind(StrEnum):
    """What happened at a session. The consult-type kinds ask people for views, not decisions."""

    CO_DESIGN_WORKSHOP = "co_design_workshop"
    DECISION_MEETING = "decision_meeting"
    STEERING_GROUP = "steering_group"
    CO_DELIVERY = "co_delivery"
    CO_EVALUATION = "co_evaluation"
    TRAINING = "training"
    SURVEY = "survey"
    FEEDBACK_ON_DRAFT = "feedback_on_draft"
    FOCUS_GROUP = "focus_group"
    INFORMATION_EVENT = "information_event"
    FEEDBACK_TO_PARTICIPANTS = "feedback_to_participants"
    """Telling people how their input changed what was decided ("you said, we did")."""
    PEER_SUPPORT = "peer_support"
    """Support for people in a voice role from others who share their experience (a network)."""
    OTHER = "other"


CONSULT_KINDS: frozenset[SessionKind] = frozenset(
    {
        SessionKind.SURVEY,
        SessionKind.FEEDBACK_ON_DRAFT,
        SessionKind.FOCUS_GROUP,
        SessionKind.INFORMATION_EVENT,
        SessionKind.FEEDBACK_TO_PARTICIPANTS,
    }
)
"""Kinds that ask people for their views, or tell them things: time in them is not deciding."""

LISTENING_KINDS: frozenset[SessionKind] = frozenset(
    {SessionKind.INFORMATION_EVENT, SessionKind.FEEDBACK_TO_PARTICIPANTS}
)
"""Kinds where people are only told things: taking part in nothing else is informing."""

KIND_WORDS: dict[SessionKind, str] = {
    SessionKind.CO_DESIGN_WORKSHOP: "co-design workshop",
    SessionKind.DECISION_MEETING: "decision meeting",
    SessionKind.STEERING_GROUP: "steering group",
    SessionKind.CO_DELIVERY: "co-delivery session",
    SessionKind.CO_EVALUATION: "co-evaluation session",
    SessionKind.TRAINING: "training session",
    SessionKind.SURVEY: "survey",
    SessionKind.FEEDBACK_ON_DRAFT: "feedback on a draft",
    SessionKind.FOCUS_GROUP: "focus group",
    SessionKind.INFORMATION_EVENT: "information event",
    SessionKind.FEEDBACK_TO_PARTICIPANTS: "feedback to participants",
    SessionKind.PEER_SUPPORT: "peer support session",
    SessionKind.OTHER: "session",
}


class Rung(StrEnum):
    """Rungs of the TLAP ladder that evidence can place a project on, lowest first.

    TLAP's ladder also has coercion and educating below informing; coprod cannot tell those apart
    from data, so evidence of nothing at all is ``none``.
    """

    NONE = "none"
    INFORMING = "informing"
    CONSULTATION = "consultation"
    ENGAGEMENT = "engagement"
    CO_DESIGN = "co_design"
    CO_PRODUCTION = "co_production"

    @property
    def rank(self) -> int:
        return _RUNG_RANKS[self]

    @property
    def words(self) -> str:
        return self.value.replace("_", "-")


_RUNG_RANKS: dict[Rung, int] = {r: i for i, r in enumerate(Rung)}


class PaymentKind(StrEnum):
    FEE = "fee"
    EXPENSES = "expenses"


NO_PLAN_BEFORE = "no_plan_before"
"""The plan-drafted field's value for "no plan existed before people in the voice roles took part"."""

UNKNOWN = "unknown"
PREFER_NOT_TO_SAY = "prefer_not_to_say"
NOT_STATED: frozenset[str] = frozenset({UNKNOWN, PREFER_NOT_TO_SAY})
"""Equality-monitoring values that say nothing about the category: they count towards a data gap."""


_KEY_SEPARATORS = re.compile(r"[\s_\-]+")


def category_key(text: str) -> str:
    """How categories are keyed everywhere: 'Asian or Asian British' -> 'asian_or_asian_british', '18-24' -> '18_24'.

    Baseline keys and mapped answers both go through this, so a recipe may write either form.
    """
    return _KEY_SEPARATORS.sub("_", text.strip().casefold()).strip("_")


class Person(_Mapped):
    """Someone who takes part: a person who uses the service, a carer, a member of staff..."""

    id: str
    name: str | None = None
    roles: frozenset[Role] = frozenset()
    demographics: dict[str, str] = Field(default_factory=dict)
    """Dimension (ethnicity, age_band, ...) -> category, or ``unknown`` / ``prefer_not_to_say``."""
    payment_preference: PaymentPreference | None = None
    benefits_opt_in: bool = False
    """The person asked to be told when fees in a month may affect their benefits."""
    supported: bool | None = None
    """Training or support for their part in the project is recorded (yes), recorded as none (no),
    or not recorded (None)."""

    def has_any_role(self, roles: Iterable[Role]) -> bool:
        return not self.roles.isdisjoint(roles)

    def label(self) -> str:
        """How a flag names the person: their name and ID, or the ID alone."""
        return f"{self.name} (ID {self.id})" if self.name else f"Person ID {self.id}"


class Project(_Mapped):
    id: str
    name: str
    label: Rung = Rung.CO_PRODUCTION
    """What the project calls itself: the rung it claims on the ladder."""
    stages_reached: frozenset[Stage] = frozenset()
    plan_drafted: date | None = None
    no_plan_before: bool = False
    """The project records that no plan existed before people in the voice roles took part (the
    plan-drafted field's value ``no_plan_before``), so there is no date to record."""
    co_chair_roles: frozenset[Role] = frozenset()
    """The roles its co-chairs hold: what the ladder's shared-decisions criterion reads."""
    co_chairs: tuple[str, ...] = ()
    """Person ids of its co-chairs, when recorded: what the support rules read."""
    decision_group: tuple[str, ...] = ()
    """Person ids of the decision-making group (board, steering group), if the project has one."""
    recruitment_opened: date | None = None
    """When recruitment of people in the voice roles opened."""
    values_agreed: date | None = None
    """When the project agreed the values co-production requires (a charter, ground rules)."""
    values_reviewed: date | None = None
    """When those values were last reassessed together."""


class Session(_Mapped):
    id: str
    project_id: str
    date: date
    hours: Decimal = Field(ge=0)
    kind: SessionKind
    stage: Stage | None = None
    title: str | None = None
    decision_taken: bool = False
    decision: str | None = None
    """What was decided, in the project's words ("the budget"), for the flag message."""
    fed_back: datetime.date | None = None
    """When the people who gave input were told what was decided and how their input counted."""
    length_unknown: bool = False
    """Its hours cell held more than one session can take (flagged as a typo): ``hours`` is 0, and
    no fee is worked out from its length until the cell is corrected."""

    def label(self, quote: Callable[[str], str] | None = None) -> str:
        """'Budget day on 20 February 2026', or the kind of session when it has no title. ``quote``:
        what the title (the charity's words) is passed through, for a report that isolates it."""
        from coprod_core.text import day

        name = (quote(self.title) if quote else self.title) if self.title else KIND_WORDS[self.kind]
        return f"{name} on {day(self.date)}"


_ZERO = Decimal(0)


class Attendance(NamedTuple):
    """One person at one session: the register's row.

    Attendance and payments are the tables that grow with the organisation (200,000 and 50,000
    rows in the benchmark), so they are named tuples (immutable, built in a fraction of a
    microsecond, 100 bytes each), not validated models: the mapping has checked every value before
    it builds one (hours and amounts are never below zero). A pydantic model with its set of
    fields given took 900 bytes and most of the mapping's time.
    """

    person_id: str
    session_id: str
    hours: Decimal | None = None
    """Hours this person attended; ``None`` means the whole session. Never below zero."""
    prep_hours: Decimal = _ZERO
    expenses_claimed: Decimal = _ZERO


class Payment(NamedTuple):
    """One payment to a person (a named tuple, as :class:`Attendance` is)."""

    id: str
    person_id: str
    amount: Decimal
    """Never below zero: the mapping flags a negative amount and leaves the row out."""
    date: datetime.date
    kind: PaymentKind = PaymentKind.FEE
    session_id: str | None = None


class BaselineDimension(_Frozen):
    """The make-up of the people who use the service on one dimension, with where it came from."""

    source: str
    as_of: str
    shares: dict[str, float]
    """Category -> share of people who use the service (or counts: they are turned into shares)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Category -> words for a message ("people of Asian heritage")."""

    @model_validator(mode="before")
    @classmethod
    def _counts_or_shares(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "counts" not in data:
            return data
        if "shares" in data:
            raise ValueError("give either shares or counts, not both")
        data = dict(data)
        counts = data.pop("counts")
        if isinstance(counts, dict) and counts and all(isinstance(v, int | float) for v in counts.values()):
            total = sum(counts.values())
            data["shares"] = {k: (v / total if total else v) for k, v in counts.items()}
        else:
            data["shares"] = counts
        return data

    @field_validator("shares", "labels")
    @classmethod
    def _keys_normalised(cls, v: dict[str, Any]) -> dict[str, Any]:
        return {category_key(k): value for k, value in v.items()}

    @field_validator("shares")
    @classmethod
    def _shares_are_proportions(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("needs at least one category")
        if any(s < 0 for s in v.values()):
            raise ValueError("shares and counts cannot be negative")
        total = sum(v.values())
        if total <= 0:
            raise ValueError("shares add up to zero")
        if total > 1.0 + 1e-6:
            # Counts were given: turn them into shares.
            return {k: s / total for k, s in v.items()}
        return v

    def category_words(self, category: str) -> str:
        return self.labels.get(category) or f"people in the '{category.replace('_', ' ')}' group"


NOT_COVERED = "not covered"
"""What a change's rate says for a kind of session it stops paying for (``survey = "not covered"``)."""


class PolicyChange(_Frozen):
    """One change to the payment policy, from a date: ``[[policy.changes]]`` in a recipe.

    Charities raise their rates every year or so (the Real Living Wage each autumn, NIHR's
    involvement rates when revised). Editing the rates in place would re-price every past session
    (people paid correctly at the old rate flagged as short), and moving ``effective`` forward would
    drop the older sessions from the checks (real overdue payments gone silent); a change instead
    says what replaces what came before for sessions on or after ``from``. A key not given keeps its
    value; a kind of session not listed in ``rates`` keeps its rate; ``"not covered"`` stops paying
    for a kind from that date. The currency cannot change: amounts before and after could not be
    added up."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: date = Field(alias="from")
    """The first session date the change applies to."""
    source: str | None = None
    rates: dict[SessionKind, Decimal | None] = Field(default_factory=dict)
    """A kind's new rate, or None where it is ``"not covered"`` from the change's date."""
    minimum_hours: Decimal | None = None
    prep_counts: bool | None = None
    eligible_roles: frozenset[Role] | None = None
    expenses_reimbursed: bool | None = None
    pay_within_days: int | None = Field(default=None, ge=0)
    currency: str | None = None
    """Refused when given: see :meth:`_currency_stays`."""

    @field_validator("currency")
    @classmethod
    def _currency_stays(cls, v: str | None) -> str | None:
        if v is not None:
            raise ValueError(
                "the currency cannot change within a policy (amounts before and after could not be added "
                "up); take this key out, and keep [policy] currency"
            )
        return v

    @field_validator("rates", mode="before")
    @classmethod
    def _rate_or_not_covered(cls, v: Any) -> Any:
        """A number per hour, or ``"not covered"`` (kept as None): said once, in words, rather than
        as pydantic's two errors for a value that is neither."""
        if not isinstance(v, dict):
            return v
        read: dict[Any, Any] = {}
        for kind, rate in v.items():
            if isinstance(rate, str) and " ".join(rate.lower().split()) == NOT_COVERED:
                read[kind] = None
                continue
            try:
                number = Decimal(str(rate)) if isinstance(rate, int | float | str | Decimal) else None
            except ArithmeticError:
                number = None
            if number is None or not number.is_finite():
                raise ValueError(f'{kind} = {rate!r}: a rate is a number per hour, or "{NOT_COVERED}"')
            if number < 0:
                raise ValueError(f"{kind} = {rate!r}: a rate cannot be negative")
            read[kind] = number
        return read

    @field_validator("minimum_hours")
    @classmethod
    def _minimum_not_negative(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and v < 0:
            raise ValueError("minimum_hours cannot be negative")
        return v


class PolicyPeriod(NamedTuple):
    """The policy in force from a date (None: from the start, or from ``effective``)."""

    start: date | None
    policy: "PaymentPolicy"


class PaymentPolicy(_Frozen):
    """The project's promise about paying people for their time (NIHR / NHS England guidance).

    With ``changes``, each session is judged by the policy in force on its date (:meth:`at`): the
    fields here are the policy from ``effective`` until the first change."""

    currency: str = "GBP"
    rates: dict[SessionKind, Decimal]
    """Rate per hour by session kind. A kind missing here is not covered by the policy."""
    minimum_hours: Decimal = Decimal(0)
    prep_counts: bool = True
    eligible_roles: frozenset[Role] = frozenset({Role.LIVED_EXPERIENCE, Role.CARER})
    expenses_reimbursed: bool = True
    pay_within_days: int = Field(default=30, ge=0)
    benefits_monthly_threshold: Decimal | None = None
    """Fees in a calendar month above which an opted-in person is told to talk it through."""
    source: str = ""
    effective: date | None = None
    changes: tuple[PolicyChange, ...] = ()
    """What replaces what came before, each from a date, oldest first (``[[policy.changes]]``)."""

    @field_validator("rates")
    @classmethod
    def _rates_not_negative(cls, v: dict[SessionKind, Decimal]) -> dict[SessionKind, Decimal]:
        if any(r < 0 for r in v.values()):
            raise ValueError("a rate cannot be negative")
        return v

    @field_validator("changes", mode="before")
    @classmethod
    def _changes_a_list(cls, v: Any) -> Any:
        """``[policy.changes]`` (one bracket) makes one table, not a list of changes: said in the
        words of the fix, not as "Input should be a valid tuple"."""
        if isinstance(v, dict):
            raise ValueError(
                "write each change as [[policy.changes]] (two square brackets), one for each date it applies from"
            )
        return v

    @model_validator(mode="after")
    def _changes_in_order(self) -> "PaymentPolicy":
        """Each change from a later date than the one before it (and than ``effective``): the
        changes are read in the order written, so one out of order would silently undo another."""
        previous, where = self.effective, "effective"
        for n, change in enumerate(self.changes, start=1):
            if previous is not None and change.from_ <= previous:
                raise ValueError(
                    f"changes[{n}].from ({change.from_.isoformat()}) must be after {where} "
                    f"({previous.isoformat()}): list the [[policy.changes]] oldest first, each from a "
                    "later date than the one before it (and after effective)"
                )
            previous, where = change.from_, f"changes[{n}].from"
        return self

    def periods(self) -> tuple[PolicyPeriod, ...]:
        """The policy in force over time, oldest first: this policy (without its changes) from
        ``effective``, then each change applied to the one before it. Worked out once."""
        return self._worked_out().periods

    def at(self, on: date) -> "PaymentPolicy | None":
        """The policy in force for a session on ``on``: None before ``effective`` (no policy then).
        Without changes, this policy itself (nothing looked up); with them, found by bisection of
        the changes' dates."""
        if self.effective is not None and on < self.effective:
            return None
        if not self.changes:
            return self
        timeline = self._worked_out()
        return timeline.policies[bisect_right(timeline.starts, on)]

    def terms_on(self, on: date) -> "PaymentPolicy":
        """The terms a flag about a session on ``on`` names (its rate, days to pay, source): those in
        force then (:meth:`at`), or, before ``effective``, the policy as first written."""
        return self.at(on) or self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy without the periods worked out for this policy (:meth:`_worked_out`): pydantic's
        copy takes the ``__dict__`` whole, so a copy given other rates or terms (not other changes)
        would otherwise have been judged by this policy's periods."""
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop(_TIMELINE, None)
        return copied

    def _worked_out(self) -> "_Timeline":
        """The periods, worked out on first use and kept in the instance's ``__dict__`` beside its
        fields, as a ``cached_property`` would keep them: pydantic's equality, dumps and repr read
        only the fields, so a policy whose periods were looked up still equals one freshly loaded
        (a held recipe is compared with the file's). Not a private attribute: those are compared,
        and read through ``__getattr__`` (a look-up per session cost a tenth of a second at 1x).
        A copy made with :meth:`model_copy` starts without them; one made otherwise (``copy.copy``)
        has the same fields, and so the same periods, unless its changes differ."""
        timeline: _Timeline | None = self.__dict__.get(_TIMELINE)
        if timeline is None or timeline.changes is not self.changes:
            base = self.model_copy(update={"changes": ()}) if self.changes else self
            found = [PolicyPeriod(self.effective, base)]
            for change in self.changes:
                found.append(PolicyPeriod(change.from_, _changed(found[-1].policy, change)))
            timeline = _Timeline(
                self.changes, [c.from_ for c in self.changes], tuple(found), tuple(p.policy for p in found)
            )
            self.__dict__[_TIMELINE] = timeline
        return timeline


_TIMELINE = "_policy_timeline"
"""Where :meth:`PaymentPolicy._worked_out` keeps its periods."""


class _Timeline(NamedTuple):
    """A policy's periods as :meth:`PaymentPolicy.at` looks them up."""

    changes: tuple[PolicyChange, ...]
    """The changes they were worked out from."""
    starts: list[date]
    """Each change's ``from``, in order: bisected to find the period of a date."""
    periods: tuple[PolicyPeriod, ...]
    policies: tuple[PaymentPolicy, ...]
    """Each period's policy (``periods[i].policy``)."""


def _changed(before: PaymentPolicy, change: PolicyChange) -> PaymentPolicy:
    """``before`` with ``change`` applied: what the change gives replaces, the rest is kept."""
    rates = dict(before.rates)
    for kind, rate in change.rates.items():
        if rate is None:
            rates.pop(kind, None)
        else:
            rates[kind] = rate
    update: dict[str, Any] = {"rates": rates, "effective": change.from_, "changes": ()}
    for key in (
        "source",
        "minimum_hours",
        "prep_counts",
        "eligible_roles",
        "expenses_reimbursed",
        "pay_within_days",
    ):
        value = getattr(change, key)
        if value is not None:
            update[key] = value
    return before.model_copy(update=update)


class Dataset(_Mapped):
    """Everything the checks see, already mapped and validated."""

    people: tuple[Person, ...] = ()
    projects: tuple[Project, ...] = ()
    sessions: tuple[Session, ...] = ()
    attendance: tuple[Attendance, ...] = ()
    payments: tuple[Payment, ...] = ()
    baseline: dict[str, BaselineDimension] = Field(default_factory=dict)
    policy: PaymentPolicy | None = None
    removed_people: frozenset[str] = frozenset()
    """IDs of people coprod knew in the people list (its state store keeps the IDs of the people it
    flagged, nothing else) who are on no row of it now: removed, most often at their own request.
    Nothing else about them is known or may be kept, so a check that counts people as they were
    (recruitment: who had joined by a first decision) cannot count them, and says so."""
    recorded: frozenset[str] = frozenset()
    """Optional fields the recipe maps, as ``entity.field`` (``projects.values_agreed``). A rule
    reads an empty value as "none recorded" only when its field is mapped; when the field is not
    mapped the rule says nothing, because nothing about it is known."""

    def records(self, field: str) -> bool:
        """Whether the recipe maps ``field`` (``entity.field``)."""
        return field in self.recorded

    @model_validator(mode="after")
    def _ids_unique(self) -> "Dataset":
        for what, items in (
            ("person", self.people),
            ("project", self.projects),
            ("session", self.sessions),
        ):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    raise ValueError(f"{what} id {item.id!r} appears twice")
                seen.add(item.id)
        return self

    def people_by_id(self) -> dict[str, Person]:
        return {p.id: p for p in self.people}

    def sessions_by_id(self) -> dict[str, Session]:
        return {s.id: s for s in self.sessions}

    def projects_by_id(self) -> dict[str, Project]:
        return {p.id: p for p in self.projects}
