"""Settings of the checks, with the defaults DESIGN.md gives. A recipe's ``[settings]`` fills them."""

# Annotations evaluated as the classes are made: see coprod_core.model.

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from coprod_core.model import Role, SessionKind


class _Settings(BaseModel):
    """Validated inside a recipe, by the recipe's own validator: each model's own is built only if
    something validates it alone (``defer_build``), not at every start of ``coprod``."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class RepresentationSettings(_Settings):
    four_fifths: float = Field(default=0.8, gt=0, le=1)
    """Flag when the observed share is below this fraction of the baseline share."""
    confidence: float = Field(default=0.95, gt=0, lt=1)
    """Confidence level of the Wilson score interval."""
    data_gap_share: float = Field(default=0.30, ge=0, le=1)
    """Flag a data gap when more than this share of answers is unknown or prefer not to say."""
    min_voice_in_decision_group: int = Field(default=2, ge=0)
    period_start: date | None = None
    period_end: date | None = None
    """Only attendance in this period counts (default: everything up to the run date)."""


class PaymentSettings(_Settings):
    overpaid_tolerance: Decimal = Field(default=Decimal("0.00"), ge=0)
    """Overpayments up to this amount (rounding) are not flagged."""


class ConsultationSettings(_Settings):
    max_consult_share: float = Field(default=0.5, ge=0, le=1)
    """'Beyond feedback' fails when more than this share of voice hours were consult-type."""


class FeedbackSettings(_Settings):
    within_days: int = Field(default=30, ge=0)
    """Days after a decision by which the people who gave input should hear what was decided."""


class SupportSettings(_Settings):
    support_kinds: frozenset[SessionKind] = frozenset({SessionKind.TRAINING, SessionKind.PEER_SUPPORT})
    """Kinds of session that count as training or support for someone's part in decisions."""


class RecruitmentSettings(_Settings):
    min_days: int = Field(default=28, ge=0)
    """Days from recruitment opening that should pass before a project's first decision."""
    min_voice_joined: int = Field(default=3, ge=0)
    """People in a voice role who should have joined (taken part in a session) by the first decision."""


class ValuesSettings(_Settings):
    review_within_days: int = Field(default=180, ge=1)
    """Days within which a project's co-production values should be reassessed, and again after."""


class DataQualitySettings(_Settings):
    max_session_hours: Decimal = Field(default=Decimal(24), gt=0)
    """The most hours one session can take (its length, someone's hours at it, or their
    preparation for it). More is taken for a typo (30 for 3.0, minutes typed as hours): flagged,
    and not counted towards payment until it is corrected. Raise it for residential sessions."""
    hours_over_session_allowed: Decimal = Field(default=Decimal(0), ge=0)
    """How many hours someone's own hours at a session may be above the session's length before
    the session is flagged (``data_quality.hours_over_session``): 0 flags any row longer than the
    session; 0.5 lets someone who stayed on half an hour pass. Compared in whole minutes, as the
    hours are (1:20 and 1.34 hours are the same 80 minutes)."""


class CheckSettings(_Settings):
    """A section left out of a recipe is its model's defaults, made with ``model_construct()``: the
    same object ``RepresentationSettings()`` makes (pydantic validates no default, and nothing is
    passed), without building each model's validator as this module is imported."""

    voice_roles: frozenset[Role] = frozenset({Role.LIVED_EXPERIENCE, Role.CARER})
    representation: RepresentationSettings = RepresentationSettings.model_construct()
    payments: PaymentSettings = PaymentSettings.model_construct()
    consultation: ConsultationSettings = ConsultationSettings.model_construct()
    feedback: FeedbackSettings = FeedbackSettings.model_construct()
    support: SupportSettings = SupportSettings.model_construct()
    recruitment: RecruitmentSettings = RecruitmentSettings.model_construct()
    values: ValuesSettings = ValuesSettings.model_construct()
    data_quality: DataQualitySettings = DataQualitySettings.model_construct()
