"""How many requests a CiviCRM sync costs: 5,000 contacts, 300 events, 20,000 participants, ~500 flags.

Targets (issue 5): at most 60 reads and 3 writes for the first sync; a second sync with nothing
changed writes nothing. The real sync (``coprod.sync.run``) is driven against a fake APIv4 server
(``responses``), seeded with a panel shaped as ``recipes/civicrm/recipe.toml`` maps it; every
request the connector sends is counted by the fake. Then exactly 500 flag changes are written
through the connector alone (new, then resolved), to show the write cost does not depend on what
the checks happened to raise.

Run: ``/work/venv/bin/python benchmarks/bench_civicrm.py``
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import responses

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fakes the tests use

from coprod.config import LoadedRecipe, load_recipe  # noqa: E402
from coprod.connectors.base import ConnectorContext  # noqa: E402
from coprod.connectors.civicrm import CiviCRMConnector, CiviCRMOptions  # noqa: E402
from coprod.state import StateStore  # noqa: E402
from coprod.sync import run  # noqa: E402
from coprod_core.flags import Severity, Subject, SubjectKind, make_flag  # noqa: E402
from coprod_core.lifecycle import ChangeKind, FlagChange, FlagStatus, KnownFlag  # noqa: E402
from fakes.civicrm import API_KEY, FakeCiviCRM, seed_panel  # noqa: E402

RECIPE = ROOT / "recipes" / "civicrm" / "recipe.toml"
RUN_DATE = date(2026, 6, 1)
TARGET_READS, TARGET_WRITES = 60, 3


def make_connector(loaded: LoadedRecipe) -> CiviCRMConnector:
    ctx = ConnectorContext(recipe=loaded.recipe, recipe_dir=loaded.dir, env={"CIVICRM_API_KEY": API_KEY})
    return CiviCRMConnector("crm", CiviCRMOptions.model_validate(loaded.recipe.sources["crm"].options), ctx)


def counted(fake: FakeCiviCRM, since: int) -> tuple[int, int, Counter[str]]:
    calls = fake.calls[since:]
    reads = sum(1 for c in calls if c.action in ("get", "getFields", "checkAccess"))
    return reads, len(calls) - reads, Counter(f"{c.entity}.{c.action}" for c in calls)


def main() -> int:
    # The recipe's [webhook] section needs its secret set to load; the sync never uses it.
    loaded = load_recipe(
        RECIPE, env={"CIVICRM_API_KEY": API_KEY, "CIVICRM_WEBHOOK_SECRET": "whsec_YmVuY2htYXJr"}
    )
    ok = True
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeCiviCRM().register(rsps)
        seed_panel(fake, contacts=5000, events=300, participants=20000, campaigns=10, unpaid_every=6)
        print(
            "seeded: "
            + ", ".join(
                f"{len(fake.records[e]):,} {e}" for e in ("Contact", "Event", "Participant", "Contribution")
            )
        )
        state = StateStore.open(":memory:")

        for label in ("first sync", "second sync, nothing changed"):
            before = len(fake.calls)
            started = time.perf_counter()
            result = run(loaded, state=state, connectors={"crm": make_connector(loaded)}, run_date=RUN_DATE)
            seconds = time.perf_counter() - started
            reads, writes, by_call = counted(fake, before)
            changes = len(result.diff.changes) if result.diff else 0
            print(
                f"{label}: exit {result.exit_code}, {len(result.flags)} flags raised, {changes} changes written; "
                f"{reads} reads, {writes} writes ({seconds:.1f}s with the fake)"
            )
            print("    " + ", ".join(f"{k} x{v}" for k, v in sorted(by_call.items())))
            if label == "first sync":
                ok &= result.exit_code == 0 and reads <= TARGET_READS and writes <= TARGET_WRITES
            else:
                ok &= result.exit_code == 0 and writes == 0

        # Exactly 500 flag changes through the connector alone.
        connector = make_connector(loaded)
        flags = [
            make_flag(
                check_id="payments.overdue",
                severity=Severity.WARNING,
                subject=Subject(kind=SubjectKind.PERSON, id=str(3 + i)),
                title=f"Payment overdue {i}",
                message="Owed for the workshop; unpaid for 61 days.",
                evidence={"owed": "75.00", "days": 61},
            )
            for i in range(500)
        ]
        new = [
            FlagChange(ChangeKind.NEW, KnownFlag.from_flag(f, FlagStatus.OPEN, RUN_DATE, RUN_DATE), f)
            for f in flags
        ]
        gone = [
            FlagChange(
                ChangeKind.RESOLVED, KnownFlag.from_flag(f, FlagStatus.RESOLVED, RUN_DATE, RUN_DATE), None
            )
            for f in flags
        ]
        for label, changes in (
            ("500 new flags", new),
            ("the same 500 again (a retry)", new),
            ("500 resolved", gone),
        ):
            before = len(fake.calls)
            report = connector.write_flags(changes)
            reads, writes, by_call = counted(fake, before)
            print(
                f"{label}: {len(report.written)} written, {len(report.failed)} failed; {reads} reads, "
                f"{writes} writes ({', '.join(f'{k} x{v}' for k, v in sorted(by_call.items()))})"
            )
            ok &= writes <= TARGET_WRITES and not report.failed
        ours = {f.fingerprint for f in flags}
        activities = sum(1 for a in fake.records["Activity"] if a.get("Coprod_Flags.Fingerprint") in ours)
        print(f"flag activities for the 500 after a retry: {activities} (no duplicates: {activities == 500})")
        ok &= activities == 500
    print(
        f"targets: <= {TARGET_READS} reads and <= {TARGET_WRITES} writes per sync, 0 writes unchanged: "
        f"{'met' if ok else 'NOT MET'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
