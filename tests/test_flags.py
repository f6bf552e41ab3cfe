"""Fingerprints and facts digests never change for the same inputs.

They are the identity a flag keeps in every platform and in the state store: if a faster digest
hashed the same facts differently, every open flag would be resolved and raised again as new, and
acknowledged flags would re-open. So the known values below are pinned, and the digest is checked
against the original, straightforward canonical form on generated values.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from coprod_core.flags import Severity, Subject, SubjectKind, digest, fingerprint, make_flag
from coprod_core.model import PaymentKind, SessionKind


def _reference_canonical(value: Any) -> Any:
    """The canonical form as first written (kept here as the specification of the digest)."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {str(k): _reference_canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_reference_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_reference_canonical(v) for v in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _reference_digest(*parts: Any) -> str:
    text = json.dumps(_reference_canonical(list(parts)), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


PINNED: dict[str, tuple[tuple[Any, ...], str]] = {
    "fingerprint parts": (("payments.owed", "person", "17", {"kind": "fee"}), "f49b4a34222bd767b82a"),
    "money as strings": (
        (
            {
                "total_owed": "75.00",
                "owed_by_session": {"S2": "25.00", "S10": "50.00"},
                "oldest_session_id": "S10",
            },
        ),
        "530a3128a2a4cbced27b",
    ),
    "decimals": (
        (
            [
                Decimal("25.00"),
                Decimal("1.50"),
                Decimal("2E+1"),
                Decimal("0"),
                Decimal("-3.000"),
                Decimal("0.1"),
            ],
        ),
        "940b15a431f929edaf90",
    ),
    "floats, ints, bools, none": (
        ({"share": 0.123456789, "ratio": 1 / 3, "whole": 2.0, "n": 3, "flag": True, "none": None},),
        "d7bb53c1b7b9b94d349e",
    ),
    "keys of mixed types": (
        (
            {
                SessionKind.SURVEY: 1,
                10: "a",
                2: "b",
                "b": [1, (2, 3)],
                "a": {"z": 1, "y": date(2026, 3, 3)},
            },
        ),
        "680f4b2d1729a36134a6",
    ),
    "sets and datetimes": (
        ({"ids": {"S3", "S1", "S2"}, "frozen": frozenset({3, 1, 2}), "when": datetime(2026, 1, 2, 3, 4, 5)},),
        "817b8369b7da9e411945",
    ),
    "enums and unicode": (
        ([PaymentKind.FEE, Severity.CRITICAL], 'text with £ and "quotes"'),
        "e4b0f21d6414ee9a0814",
    ),
    "nested": (([[{"b": Decimal("7.5"), "a": [date(2025, 1, 1)]}], ()],), "0a23611648bb2cc1047c"),
}


def test_digest_of_known_inputs_is_unchanged() -> None:
    for name, (parts, expected) in PINNED.items():
        assert digest(*parts) == expected, name
        assert _reference_digest(*parts) == expected, name


def test_make_flag_fingerprint_facts_digest_and_evidence_json_are_unchanged() -> None:
    flag = make_flag(
        check_id="payments.owed",
        severity=Severity.INFO,
        subject=Subject(kind=SubjectKind.PERSON, id="17"),
        title="Payment due",
        message="Sam is owed.",
        evidence={
            "total_owed": "75.00",
            "amount": Decimal("75.00"),
            "on": date(2026, 5, 1),
            "share": 0.25,
            "ids": {"b", "a"},
        },
        identity={"kind": "fee"},
        facts={"total_owed": "75.00"},
    )
    assert flag.fingerprint == "f49b4a34222bd767b82a"
    assert flag.facts_digest == "3c8687f126bcf07b3e3f"
    assert flag.evidence_json == (
        '{"amount": "75", "ids": ["a", "b"], "on": "2026-05-01", "share": 0.25, "total_owed": "75.00"}'
    )


def test_facts_digest_defaults_to_the_evidence_and_identity_to_nothing() -> None:
    flag = make_flag(
        check_id="representation.under_represented",
        severity=Severity.WARNING,
        subject=Subject(kind=SubjectKind.PROJECT, id="P1"),
        title="t",
        message="m",
        evidence={"n": 24, "x": 1, "share": 0.0416666667, "baseline": 0.19, "interval": (0.0074, 0.2024)},
    )
    assert flag.fingerprint == "e59546e82f25491755af"
    assert flag.facts_digest == "74a261d84ad2d3b6e73b"


def test_rewording_the_message_keeps_the_fingerprint_and_digest() -> None:
    common: dict[str, Any] = {
        "check_id": "payments.overdue",
        "severity": Severity.WARNING,
        "subject": Subject(kind=SubjectKind.PERSON, id="9"),
        "title": "Payment overdue",
        "evidence": {"total_owed": "50.00"},
        "identity": {"kind": "fee"},
    }
    a = make_flag(message="Sam is owed £50.00.", **common)
    b = make_flag(message="Sam (ID 9) is still owed £50.00.", **common)
    assert (a.fingerprint, a.facts_digest) == (b.fingerprint, b.facts_digest)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(),
    st.sampled_from(list(SessionKind) + list(PaymentKind)),
)
_keys = st.one_of(st.text(max_size=6), st.integers(-50, 50), st.sampled_from(list(SessionKind)))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_keys, inner, max_size=4),
        st.frozensets(st.text(max_size=4), max_size=4),
        st.sets(st.integers(-20, 20), max_size=4),
    ),
    max_leaves=20,
)


@given(st.lists(_values, min_size=1, max_size=4))
def test_digest_matches_the_reference_canonical_form_on_any_evidence(parts: list[Any]) -> None:
    assert digest(*parts) == _reference_digest(*parts)


@given(st.dictionaries(st.text(max_size=6), _values, max_size=6))
def test_evidence_json_matches_the_reference_canonical_form(evidence: dict[str, Any]) -> None:
    flag = make_flag(
        check_id="c",
        severity=Severity.INFO,
        subject=Subject(kind=SubjectKind.SESSION, id="S1"),
        title="t",
        message="m",
        evidence=evidence,
    )
    assert flag.evidence_json == json.dumps(_reference_canonical(evidence), sort_keys=True, default=str)
    assert flag.facts_digest == _reference_digest(evidence)


@given(
    st.one_of(st.text(max_size=8), st.sampled_from(["payments.owed", "representation.no_voice"])),
    st.one_of(st.sampled_from([k.value for k in SubjectKind]), st.sampled_from(list(SubjectKind))),
    st.text(max_size=8),
    st.one_of(
        st.dictionaries(
            st.text(max_size=6), st.one_of(st.none(), st.booleans(), st.integers(), st.text()), max_size=3
        ),
        st.dictionaries(_keys, _values, max_size=3),
    ),
)
def test_a_fingerprint_is_the_digest_of_its_parts(
    check_id: str, kind: str, subject_id: str, identity: dict
) -> None:
    """:func:`fingerprint` builds the text the digest hashes from its parts, remembering each identity
    of plain values: the same digest whatever the identity holds (True and 1, an enum, a date, a
    nested list) and however often it recurs."""
    for _ in range(2):  # the second time from what the first remembered
        assert fingerprint(check_id, kind, subject_id, identity) == _reference_digest(
            check_id, kind, subject_id, identity
        )


def test_a_fingerprint_tells_true_from_one_once_either_is_remembered() -> None:
    for identity in ({"n": True}, {"n": 1}, {"n": 1}, {"n": True}, {"n": None}, {"n": "1"}):
        assert fingerprint("c", "person", "17", identity) == _reference_digest("c", "person", "17", identity)
    assert len({fingerprint("c", "person", "17", {"n": v}) for v in (True, 1, "1", None, False, 0)}) == 6
