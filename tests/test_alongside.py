"""Payment flags worked out in pieces, some in a second process, are the flags one process gives.

``coprod_core.checks.check_all`` hands the people's payment flags, in pieces of people, to the
``alongside`` its caller gives (``coprod_core.alongside``); the command line's forks a child that
takes pieces beside the parent (``coprod.alongside.forked``). These tests hold the flags to be the
same whichever way they were worked out, the child's failures to cost nothing but time, and
``COPROD_PROCESSES`` to be obeyed.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import pytest

import coprod.alongside as alongside_mod
from coprod.alongside import alongside_for, forked, processes_problem
from coprod.cli import main
from coprod_core.alongside import in_turn
from coprod_core.checks import check_all, payments
from coprod_core.flags import Flag
from coprod_core.model import Dataset, PaymentPreference
from coprod_core.settings import CheckSettings
from fakes import load_script

synth = load_script("benchmarks/synth.py")
RUN_DATE = date(2026, 11, 20)
PER_PERSON = {"payments.owed", "payments.overdue", "payments.overpaid", "payments.benefits_threshold"}
T = TypeVar("T")


def _as_compared(flags: list[Flag]) -> list[dict[str, Any]]:
    return [f.model_dump(mode="json") for f in flags]


class Recording:
    """An alongside that keeps the pieces it was handed and does them when their results are asked
    for (``when="asked"``), all at once when handed (``"at_once"``), or at once from the last to
    the first (``"backwards"``): orders a forked child's pieces can take against the caller's."""

    def __init__(self, when: str = "asked") -> None:
        self.when = when
        self.handed: list[Sequence[Callable[[], Any]]] = []

    def __call__(self, pieces: Sequence[Callable[[], T]], /) -> Callable[[], list[T]]:
        self.handed.append(pieces)
        if self.when == "asked":
            return lambda: [piece() for piece in pieces]
        order = range(len(pieces)) if self.when == "at_once" else reversed(range(len(pieces)))
        done = {n: pieces[n]() for n in order}
        return lambda: [done[n] for n in range(len(pieces))]


def _organisation(seed: int) -> Dataset:
    """A small synthetic organisation whose people raise every kind of payment flag about a person:
    some declined payment (and were paid), some asked to hear about their benefits (and pass a low
    threshold); with seed 11 the policy changes halfway, so each session is judged by its own."""
    dataset = synth.dataset(people=300, sessions=120, attendances=2_400, payments=600, seed=seed)
    people = [
        p.model_copy(
            update={
                "payment_preference": PaymentPreference.DECLINED if n % 7 == 0 else p.payment_preference,
                "benefits_opt_in": n % 5 == 0,
            }
        )
        for n, p in enumerate(dataset.people)
    ]
    policy = synth.policy_with_change() if seed == 11 else synth.policy()
    policy = policy.model_copy(update={"benefits_monthly_threshold": Decimal(20)})
    return dataset.model_copy(update={"people": people, "policy": policy})


@pytest.mark.parametrize("seed", [3, 11])
@pytest.mark.parametrize("when", ["asked", "at_once", "backwards"])
def test_the_flags_are_the_same_with_pieces_worked_out_alongside(monkeypatch, seed, when):
    dataset = _organisation(seed)
    settings = CheckSettings()
    alone = check_all(dataset, settings, RUN_DATE)  # too few people to hand over
    monkeypatch.setattr(payments, "ALONGSIDE_AT_LEAST", 10)
    recording = Recording(when)
    split = check_all(dataset, settings, RUN_DATE, recording)

    [pieces] = recording.handed
    assert len(pieces) > 1
    assert _as_compared(split.flags) == _as_compared(alone.flags)
    kinds = Counter(f.check_id for f in alone.flags)
    for kind in ("owed", "overdue", "overpaid", "paid_though_declined", "benefits_threshold"):
        assert kinds[f"payments.{kind}"] > 0, kind
    # The pieces hold every flag about a person's own money, each once (paid though declined is
    # worked out by the caller for everyone).
    from_pieces = [f.fingerprint for piece in pieces for f in piece()]
    assert sorted(from_pieces) == sorted(f.fingerprint for f in alone.flags if f.check_id in PER_PERSON)


@pytest.mark.parametrize("when", ["asked", "at_once", "backwards"])
def test_the_payment_flags_come_in_the_order_one_process_gives_them(monkeypatch, when):
    """``flags_from`` is also what the webhook's re-check of a project reads, unsorted."""
    dataset = _organisation(3)
    settings = CheckSettings()
    register = payments.read_register(dataset, settings, RUN_DATE)
    alone = payments.flags_from(dataset, settings, RUN_DATE, register)  # too few people to hand over
    monkeypatch.setattr(payments, "ALONGSIDE_AT_LEAST", 10)
    split = payments.flags_started(dataset, settings, RUN_DATE, register, Recording(when))()
    assert [f.fingerprint for f in split] == [f.fingerprint for f in alone]


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The children ``os.fork`` makes from now on (it still forks)."""
    made: list[int] = []
    real_fork = os.fork

    def counted_fork() -> int:
        pid = real_fork()
        if pid:
            made.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted_fork)
    return made


def test_the_flags_are_the_same_with_pieces_worked_out_in_a_forked_child(monkeypatch, forks):
    """The real hand-over: flags of every kind about a person, pickled in the child and read here."""
    dataset = _organisation(11)
    settings = CheckSettings()
    alone = check_all(dataset, settings, RUN_DATE)
    monkeypatch.setattr(payments, "ALONGSIDE_AT_LEAST", 10)
    split = check_all(dataset, settings, RUN_DATE, forked)
    assert len(forks) == 1
    assert _as_compared(split.flags) == _as_compared(alone.flags)


def test_a_small_organisation_hands_nothing_over():
    recording = Recording()
    check_all(_organisation(3), CheckSettings(), RUN_DATE, recording)
    assert payments.ALONGSIDE_AT_LEAST > 300
    assert recording.handed == []


def _pieces(count: int, work: Callable[[int], Any]) -> list[Callable[[], Any]]:
    return [partial(work, n) for n in range(count)]


def test_both_processes_take_pieces_and_the_results_come_back_in_order():
    here = os.getpid()

    def work(n: int) -> tuple[int, int, Decimal]:
        time.sleep(0.005)
        return n, os.getpid(), Decimal(n) / 4

    results = forked(_pieces(40, work))()
    assert [n for n, _, _ in results] == list(range(40))
    assert [amount for _, _, amount in results] == [Decimal(n) / 4 for n in range(40)]
    pids = Counter(pid for _, pid, _ in results)
    assert here in pids and len(pids) == 2, pids


def test_pieces_that_fail_in_the_child_are_done_again_here():
    here = os.getpid()

    def work(n: int) -> str:
        if os.getpid() != here:
            raise RuntimeError("only in the child")
        return f"piece {n} done here"

    assert forked(_pieces(12, work))() == [f"piece {n} done here" for n in range(12)]


def test_an_error_of_a_piece_itself_is_raised_here_as_it_would_be_in_turn():
    def work(n: int) -> str:
        raise ValueError(f"a bug in a check (piece {n})")

    shared = forked(_pieces(4, work))
    pid = shared.pid  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="a bug in a check"):
        shared()
    with pytest.raises(ChildProcessError):  # the child was reaped, not left a zombie
        os.waitpid(pid, os.WNOHANG)


def test_a_child_killed_midway_leaves_its_pieces_to_this_process():
    here = os.getpid()

    def work(n: int) -> int:
        if os.getpid() != here and n >= 2:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.002)
        return n * n

    assert forked(_pieces(20, work))() == [n * n for n in range(20)]


def test_a_stuck_child_is_stopped_and_its_pieces_done_here(monkeypatch):
    """A child that never ends (a lock its parent held when it was forked) costs a wait, not the run."""
    monkeypatch.setattr(alongside_mod, "CHILD_WAIT_AT_LEAST", 0.5)
    here = os.getpid()

    def work(n: int) -> int:
        if os.getpid() != here:
            time.sleep(60)
        return n + 100

    shared = forked(_pieces(3, work))
    pid = shared.pid  # type: ignore[attr-defined]
    started = time.monotonic()
    assert shared() == [100, 101, 102]
    assert time.monotonic() - started < 10
    with pytest.raises(ChildProcessError):  # killed and reaped
        os.waitpid(pid, os.WNOHANG)


def test_results_never_asked_for_leave_no_child_behind():
    here = os.getpid()

    def work(n: int) -> int:
        if os.getpid() != here:
            time.sleep(60)
        return n

    shared = forked(_pieces(3, work))
    pid = shared.pid  # type: ignore[attr-defined]
    started = time.monotonic()
    del shared
    gc.collect()
    assert time.monotonic() - started < 10, "the child was waited for, not stopped"
    with pytest.raises(ChildProcessError):  # already reaped: no zombie is left
        os.waitpid(pid, os.WNOHANG)


@pytest.mark.parametrize("count", [1, alongside_mod.MOST_PIECES + 1])
def test_one_piece_or_too_many_for_the_queue_are_done_in_turn(monkeypatch, count):
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    assert forked(_pieces(count, lambda n: n))() == list(range(count))


def test_without_fork_the_pieces_are_done_in_turn(monkeypatch):
    monkeypatch.delattr(os, "fork")
    assert forked(_pieces(3, lambda _n: os.getpid()))() == [os.getpid()] * 3


@pytest.mark.parametrize(
    ("value", "spare", "expected"),
    [
        ("1", True, in_turn),
        (" 1 ", True, in_turn),
        ("2", True, forked),
        ("", True, forked),
        ("2", False, in_turn),
    ],
)
def test_coprod_processes_chooses_one_process_or_two(monkeypatch, value, spare, expected):
    monkeypatch.setattr(alongside_mod, "_processors_to_spare", lambda: spare)
    assert alongside_for({"COPROD_PROCESSES": value}) is expected


def test_only_linux_forks(monkeypatch):
    monkeypatch.setattr(alongside_mod, "usable_processors", lambda: 8)
    assert alongside_for({}) is forked
    monkeypatch.setattr(sys, "platform", "darwin")
    assert alongside_for({}) is in_turn


def test_one_processor_to_use_means_one_process(monkeypatch):
    monkeypatch.setattr(alongside_mod, "_cpu_quota", lambda: None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert alongside_for({}) is in_turn
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    assert alongside_for({}) is forked


@pytest.mark.parametrize(
    ("affinity", "quota", "usable"),
    [({0, 1}, None, 2), ({0, 1}, 1.0, 1), ({0, 1}, 1.5, 1), ({0, 1, 2, 3}, 2.0, 2)],
)
def test_a_containers_cpu_quota_counts_as_much_as_the_processors_it_may_run_on(
    monkeypatch, affinity, quota, usable
):
    """A container limited to one CPU on a many-core host: a child beside the parent only slows both."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: affinity, raising=False)
    monkeypatch.setattr(alongside_mod, "_cpu_quota", lambda: quota)
    assert alongside_mod.usable_processors() == usable
    assert (alongside_for({}) is forked) == (usable > 1)


@pytest.mark.parametrize("value", ["0", "3", "two", "1.5"])
def test_a_value_other_than_one_or_two_is_refused_in_words(value):
    message = processes_problem({"COPROD_PROCESSES": value})
    assert message is not None
    assert f"{value!r} is not a number of processes coprod can use" in message
    assert "write 1" in message and "or 2" in message


def test_coprod_check_refuses_a_bad_coprod_processes_before_reading(demo, quiet_env, monkeypatch, capsys):
    monkeypatch.setenv("COPROD_PROCESSES", "4")
    assert main(["check", str(demo / "recipe.toml")]) == 2
    out = capsys.readouterr().out
    assert "COPROD_PROCESSES: '4' is not a number of processes coprod can use" in out
    assert "rows read" not in out


def test_coprod_check_gives_the_same_output_in_one_process_or_two(
    demo, quiet_env, monkeypatch, capsys, forks
):
    """The demo is small: the threshold is lowered so that its payment flags are split, and the
    fork is counted to show that it was."""
    monkeypatch.setattr(payments, "ALONGSIDE_AT_LEAST", 1)
    monkeypatch.setattr(alongside_mod, "_processors_to_spare", lambda: True)
    outputs = {}
    for processes in ("1", "2"):
        monkeypatch.setenv("COPROD_PROCESSES", processes)
        assert main(["check", str(demo / "recipe.toml"), "--date", "2026-11-20"]) in (0, 1)
        outputs[processes] = capsys.readouterr().out
        assert len(forks) == (0 if processes == "1" else 1)
    assert "owed" in outputs["2"]
    assert outputs["1"] == outputs["2"]


def test_a_sync_whose_flags_a_child_helped_with_is_the_sync_one_process_makes(
    demo, quiet_env, monkeypatch, capsys, forks, store_location
):
    """On either state store: the child leaves the parent's store connection (a PostgreSQL socket
    among them) as it was, and what the sync wrote is what one process finds again, unchanged."""
    monkeypatch.setattr(payments, "ALONGSIDE_AT_LEAST", 1)
    monkeypatch.setattr(alongside_mod, "_processors_to_spare", lambda: True)
    monkeypatch.setenv("COPROD_STATE", store_location)
    runs = []
    for processes in ("2", "1"):
        monkeypatch.setenv("COPROD_PROCESSES", processes)
        code = main(["sync", str(demo / "recipe.toml"), "--date", "2026-11-20", "--full", "--json"])
        assert code == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert len(forks) == 1
    first, again = runs
    assert first["changes"]["new"] == len(first["flags"]) > 0
    assert first["written"] == len(first["flags"])
    assert again["changes"] | {"still_open": 0} == dict.fromkeys(again["changes"], 0)
    assert again["changes"]["still_open"] == len(first["flags"])
    assert again["written"] == 0
    assert [f["fingerprint"] for f in again["flags"]] == [f["fingerprint"] for f in first["flags"]]
