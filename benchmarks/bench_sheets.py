"""How many Google Sheets API requests a sync costs: 5,000 people, about 500 flags.

Google allows 60 read and 60 write requests a minute per user, so coprod's cost is counted in
requests, not seconds. This drives the real sync (``coprod.sync.run``) on the google-sheets recipe
against an in-memory spreadsheet served through ``responses`` (no network), and prints:
- the requests of ``coprod install`` (once, before the first sync);
- the first sync (target: at most 3 reads and 1 write);
- a second sync with nothing changed (target: 0 writes);
- a sync after staff acknowledged 100 flags (target: 1 write, taking them out of the people's
  "coprod flags" column; nothing in the Flags tab);
- a sync after that (target: 0 writes);
- a sync after 600 more people attended unpaid, which takes the Flags tab past the 1,000 rows a
  new tab has (target: 1 write: the rows are added in the same request as the flags);
- the webhook worker's re-check (``coprod.live``, in process): its first re-check reads everything;
  then each new form response, named by the trigger's notice, is read with ONE batchGet (its row,
  the tab's header row and ID column, the whole Flags tab) and written with one request (target: 1
  read, 1 write), beside a whole sync of one new response (2 reads, 1 write), with the bytes of
  each batchGet's answer. Times here are in one process against an in-memory fake (no network):
  Google's own time is not in them.

Run: /work/venv/bin/python benchmarks/bench_sheets.py
"""

from __future__ import annotations

import statistics
import sys
import time
import tomllib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import responses
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.credentials import Credentials

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fakes the tests use

from coprod.config import LoadedRecipe  # noqa: E402
from coprod.connectors.base import ConnectorContext, Delivery  # noqa: E402
from coprod.connectors.sheets import SheetsConnector, SheetsOptions  # noqa: E402
from coprod.live import LiveRecipe  # noqa: E402
from coprod.state import StateStore  # noqa: E402
from coprod.sync import run  # noqa: E402
from coprod_core.recipe import Recipe, parse_recipe  # noqa: E402
from fakes.sheets import FakeSpreadsheet  # noqa: E402

RECIPE_DIR = ROOT / "recipes" / "google-sheets"
PEOPLE = 5_000
ATTENDED = 2_000
PAID = 1_500  # the other 500 who attended are unpaid past 30 days: about 500 flags
RUN_DATE = date(2026, 6, 1)
ETHNIC = ["White", "Asian or Asian British", "Black, Black British, Caribbean or African", "White", "White"]


def load_recipe() -> Recipe:
    data = tomllib.loads((RECIPE_DIR / "recipe.toml").read_text(encoding="utf-8"))
    recipe, problems = parse_recipe(data, "recipe.toml")
    if recipe is None:
        raise SystemExit("\n".join(map(str, problems)))
    return recipe


def build_sheet(key: str) -> FakeSpreadsheet:
    sheet = FakeSpreadsheet(key)
    people_header = [
        "Timestamp",
        "Your name",
        "Which of these describe you?",
        "How would you like to be thanked for your time?",
        "Would you like us to warn you if payments might affect your benefits?",
        "What is your ethnic group?",
        "What is your age?",
        "Do you consider yourself to be disabled?",
        "Participant ID",
        "Have you had training or support for your part in decisions?",
    ]
    people = [people_header]
    for i in range(1, PEOPLE + 1):
        role = "I use or have used the service" if i % 2 else "I care for someone who uses the service"
        people.append(
            [
                "03/02/2026 10:00:00",
                f"Person {i}",
                role,
                "Payment",
                "No",
                ETHNIC[i % len(ETHNIC)],
                "25 to 49",
                "No",
                str(i),
            ]
        )
    sheet.add_tab("Form responses 1", people, rows=PEOPLE + 1, cols=len(people_header))
    sheet.add_tab(
        "Sessions",
        [
            [
                "Session ID",
                "Date",
                "Hours",
                "Type of session",
                "Stage",
                "Title",
                "Decision taken?",
                "What was decided",
                "Fed back on",
            ],
            ["S1", "01/02/2026", "2", "Co-design workshop", "Design", "Big workshop", "No", ""],
            ["S2", "20/02/2026", "2", "Decision meeting", "Planning", "Budget meeting", "Yes", "the budget"],
        ],
    )
    attendance = [["Participant ID", "Session ID", "Hours attended", "Preparation hours", "Expenses claimed"]]
    attendance += [[str(i), "S1", "", "1", ""] for i in range(1, ATTENDED + 1)]
    attendance += [[str(i), "S2", "", "", ""] for i in range(1, 20)]
    sheet.add_tab("Attendance", attendance, rows=len(attendance))
    payments = [["Payment ID", "Participant ID", "Amount", "Date paid", "Fee or expenses", "Session ID"]]
    payments += [[f"PAY{i}", str(i), "75.00", "20/02/2026", "Fee", "S1"] for i in range(1, PAID + 1)]
    payments += [[f"PAYB{i}", str(i), "50.00", "01/03/2026", "Fee", "S2"] for i in range(1, 20)]
    sheet.add_tab("Payments", payments, rows=len(payments))
    return sheet


def measure(sheet: FakeSpreadsheet, label: str, action: Callable[[], Any]) -> tuple[Any, int, int, str]:
    """Run ``action`` and count the Sheets API requests it sent: (result, reads, writes, line)."""
    before = len(sheet.calls)
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    calls = [kind for kind, _ in sheet.calls[before:]]
    reads = sum(1 for k in calls if k in ("meta", "batchGet"))
    writes = len(calls) - reads
    line = (
        f"{label:<42} reads {reads}  writes {writes}  {seconds:6.2f} s  ({', '.join(calls) or 'no requests'})"
    )
    return result, reads, writes, line


def main() -> int:
    recipe = load_recipe()
    options = SheetsOptions.model_validate({**recipe.sources["sheet"].options, "backoff": 0})
    context = ConnectorContext(recipe, RECIPE_DIR, env={})
    loaded = LoadedRecipe(recipe=recipe, path=RECIPE_DIR / "recipe.toml", dir=RECIPE_DIR, env={})
    state = StateStore.open(":memory:")

    def connector() -> SheetsConnector:
        return SheetsConnector("sheet", options, context, session=AuthorizedSession(Credentials(token="x")))

    def sync() -> Any:
        return run(loaded, run_date=RUN_DATE, state=state, connectors={"sheet": connector()})

    print(f"Sheets API requests for a sync of {PEOPLE:,} people (google-sheets recipe, fake spreadsheet)")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        sheet = build_sheet(options.key)
        sheet.register(mock)

        _, _, _, line = measure(sheet, "coprod install (once)", lambda: connector().install())
        print(line)
        first, reads1, writes1, line = measure(sheet, "sync 1", sync)
        print(line)
        second, _, writes2, line = measure(sheet, "sync 2, nothing changed", sync)
        print(line)
        for row in sheet.tabs["Flags"].values[1:101]:
            row[1] = "acknowledged"  # staff answer 100 flags in the sheet
        third, _, writes3, line = measure(sheet, "sync 3, staff acknowledged 100 flags", sync)
        print(line)
        fourth, _, writes4, line = measure(sheet, "sync 4, nothing changed", sync)
        print(line)
        attendance = sheet.tabs["Attendance"]
        attendance.values += [[str(i), "S1", "", "1", ""] for i in range(ATTENDED + 1, ATTENDED + 601)]
        attendance.row_count = len(attendance.values)
        grid_rows = sheet.tabs["Flags"].row_count
        fifth, _, writes5, line = measure(sheet, "sync 5, 600 more unpaid (Flags tab grows)", sync)
        print(line)

        people = sheet.tabs["Form responses 1"]
        added = iter(range(PEOPLE + 1, PEOPLE + 100))

        def respond() -> Delivery:
            """A new form response whose thanks are not understood (a flag on its row), and the
            trigger's notice naming it."""
            pid = next(added)
            people.values.append(
                [
                    "02/06/2026 09:30:00",
                    f"Person {pid}",
                    "I volunteer",
                    "Cash",
                    "No",
                    "White",
                    "25 to 49",
                    "No",
                    str(pid),
                ]
            )
            people.row_count = max(people.row_count, len(people.values))
            notice = {"type": "sheets.form_submit", "spreadsheet_id": sheet.key, "sheet": people.title}
            return Delivery("sheets", f"row {len(people.values)}", {**notice, "row": len(people.values)})

        def answer_bytes(since: int) -> int:
            return sum(
                len(c.response.content or b"") for c in mock.calls[since:] if ":batchGet" in c.request.url
            )

        live = LiveRecipe(loaded)
        live.connectors = {"sheet": connector()}
        whole, _, _, line = measure(
            sheet, "worker's first re-check (reads all)", lambda: live.recheck(state, [], RUN_DATE)
        )
        print(line)
        live_lines: list[tuple[int, int, float, int]] = []
        for _ in range(7):
            delivery = respond()
            since = len(mock.calls)
            started = time.perf_counter()
            out, reads_l, writes_l, _ = measure(
                sheet, "", lambda d=delivery: live.recheck(state, [d], RUN_DATE)
            )
            live_lines.append((reads_l, writes_l, time.perf_counter() - started, answer_bytes(since)))
            assert not out.whole and out.exit_code == 0, out
        seconds = [t for _, _, t, _ in live_lines]
        print(
            f"{'worker re-check of one new response, x7':<42} reads {max(r for r, *_ in live_lines)}  writes "
            f"{max(w for _, w, *_ in live_lines)}  median {statistics.median(seconds):.3f} s "
            f"(min {min(seconds):.3f}, max {max(seconds):.3f}); batchGet answer {live_lines[-1][3]:,} bytes"
        )
        respond()
        since = len(mock.calls)
        one_sync, _, _, line = measure(sheet, "whole sync of one new response", sync)
        print(f"{line}; batchGet answer {answer_bytes(since):,} bytes")

    print()
    print(
        f"flags raised: {len(first.flags)}; rows in the Flags tab: {len(sheet.tabs['Flags'].trimmed()) - 1}"
    )
    print(f"kept by staff on sync 3: {third.diff.kept_by_staff if third.diff else 0}")
    flags_tab = sheet.tabs["Flags"]
    print(
        f"sync 5: {len(fifth.diff.changes) if fifth.diff else 0} flag changes; the Flags tab grew from "
        f"{grid_rows:,} to {flags_tab.row_count:,} rows, for {len(flags_tab.trimmed()) - 1:,} flags"
    )
    targets = {
        "sync 1: at most 3 reads": reads1 <= 3,
        "sync 1: exactly 1 write": writes1 == 1,
        "sync 2: 0 writes": writes2 == 0,
        "sync 3: 1 write (the flags column)": writes3 == 1,
        "sync 4: 0 writes": writes4 == 0,
        "sync 5: 1 write, past the Flags tab's first 1,000 rows": writes5 == 1
        and grid_rows < len(flags_tab.trimmed()),
        "every sync exit code 0": all(
            r.exit_code == 0 for r in (first, second, third, fourth, fifth, one_sync)
        ),
        "worker re-check of a new response: 1 read, 1 write": all(
            r == 1 and w == 1 for r, w, *_ in live_lines
        ),
    }
    for what, met in targets.items():
        print(f"{'met   ' if met else 'MISSED'} {what}")
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
