"""`coprod rules`, `coprod explain`, and every project's placement in the machine output."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from coprod.cli import main
from coprod_core.checks import payments
from coprod_core.checks.attendance import VoiceAttendance
from coprod_core.rules import all_rules, markdown_table

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "recipes" / "demo"
CRITERIA = {"from_the_start", "beyond_feedback", "shared_decisions", "across_stages", "reciprocity"}


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns(".coprod", "coprod-flags.csv"))
    return target


def test_rules_lists_every_rule_with_its_severity_and_title(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    rules = all_rules()
    assert len(rules) == 28
    for r in rules:
        assert re.search(rf"^{re.escape(r.id)}\s+{r.severity.value}\s+{re.escape(r.title)}$", out, re.M), r.id


def test_explain_prints_what_why_with_source_and_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "feedback.not_fed_back"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("feedback.not_fed_back: Input not fed back\n")
    for part in (
        "Severity: warning",
        "What it checks:",
        "Why it matters:",
        "(Source: NHS",
        "What you can do:",
    ):
        assert part in out


def test_explain_a_check_prints_each_of_its_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "values"]) == 0
    out = capsys.readouterr().out
    assert "values.not_agreed: " in out and "values.not_reviewed: " in out and "payments." not in out


def test_explain_never_breaks_a_line_inside_a_hyphenated_word(capsys: pytest.CaptureFixture[str]) -> None:
    # `coprod explain payments` printed "longer than the policy's pay-" and "within days" on the next
    # line (textwrap breaks at hyphens by default), as it would "co-" and "production"; a line
    # breaks only between words, as the flags' messages do (coprod.cli.wrap).
    for check in sorted({r.id.split(".", 1)[0] for r in all_rules()}):
        assert main(["explain", check]) == 0
        out = capsys.readouterr().out
        cut = [line for line in out.splitlines() if re.search(r"\w-$", line)]
        assert cut == [], check
        assert "pay-within days" in out or check != "payments"


def test_explain_an_unknown_rule_says_so_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "payments.late"]) == 2
    assert "there is no rule 'payments.late'" in capsys.readouterr().out


def test_explain_takes_a_rule_in_any_case_and_names_the_one_a_typo_meant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # "there is no rule 'payments.owd'" left a newcomer to read the whole list for the one meant.
    assert main(["explain", "Payments.Overdue"]) == 0
    assert "payments.overdue" in capsys.readouterr().out
    assert main(["explain", "payments.owd"]) == 2
    assert capsys.readouterr().out == (
        "coprod: there is no rule 'payments.owd'; did you mean 'payments.owed'? `coprod rules` lists them all\n"
    )
    assert main(["explain", "representaton"]) == 2
    assert "did you mean 'representation'?" in capsys.readouterr().out
    assert main(["explain", "attendance"]) == 2
    assert "did you mean" not in capsys.readouterr().out  # nothing close: no guess


def test_readme_table_of_rules_is_the_generated_one(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- rules:start -->\n", "\n<!-- rules:end -->"
    assert start in readme and end in readme, "README.md lost its rules table markers"
    table = readme[readme.index(start) + len(start) : readme.index(end)]
    assert table == markdown_table(), "README's rules table is stale: paste `coprod rules --markdown`"
    assert main(["rules", "--markdown"]) == 0
    assert capsys.readouterr().out.strip() == markdown_table()


def test_check_json_gives_every_projects_placement_flagged_or_not(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(demo), "--json", "--date", "2026-11-20"]) == 0
    payload = json.loads(capsys.readouterr().out)
    placements = {p["project_id"]: p for p in payload["placements"]}
    assert set(placements) == {"DSR", "PSL"}
    psl, dsr = placements["PSL"], placements["DSR"]
    assert (psl["label"], psl["rung"], psl["flagged"]) == ("co_production", "co_production", False)
    assert (dsr["rung"], dsr["flagged"]) == ("consultation", True)
    assert set(psl["criteria"]) == CRITERIA
    assert all(c["result"] == "pass" and c["needed_for_label"] for c in psl["criteria"].values())
    start = psl["criteria"]["from_the_start"]
    assert (start["plan_drafted"], start["first_voice_session"]) == ("2026-03-20", "2026-03-05")
    assert start["basis"].startswith("people with lived experience or carers first took part on 5 March 2026")
    assert psl["criteria"]["shared_decisions"]["decisions_with_them"] == 2
    failed = dsr["criteria"]["beyond_feedback"]
    assert failed["result"] == "fail" and failed["consult_sessions"] == 5
    assert failed["finding"].startswith("all 5 of their sessions were") and failed["action"]
    # The flag's evidence and the placement agree.
    flag = next(f for f in payload["flags"] if f["check_id"] == "consultation.mislabelled")
    assert flag["evidence"]["criteria"]["beyond_feedback"]["result"] == failed["result"]


def test_sync_json_gives_placements_too(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", str(demo), "--json", "--date", "2026-11-20"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [p["project_id"] for p in payload["placements"]] == ["DSR", "PSL"]
    assert "E+" not in json.dumps(payload["placements"])


def test_attendance_is_read_once_per_run_for_the_flags_placements_json_and_summary(
    demo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The attendance register is read once per run, by the payments check's pass, for every check
    # that asks who in a voice role took part too (no pass of their own), and the placements made
    # then are what the JSON and the summary print.
    passes: list[str] = []
    real_read, real_build = payments.read_register, VoiceAttendance.build

    def reading(*args: object, **kwargs: object) -> payments.Register:
        passes.append("payments")
        return real_read(*args, **kwargs)  # type: ignore[arg-type]

    def building(*args: object, **kwargs: object) -> VoiceAttendance:
        passes.append("voice attendance")
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(payments, "read_register", reading)
    monkeypatch.setattr(VoiceAttendance, "build", building)
    assert main(["check", str(demo), "--date", "2026-11-20"]) == 0
    out = capsys.readouterr().out
    assert "'Peer support line': called co-production, evidence says co-production" in out
    assert passes == ["payments"]
    assert main(["check", str(demo), "--json", "--date", "2026-11-20"]) == 0
    assert passes == ["payments", "payments"]


def test_every_rule_of_the_checks_fires_in_the_demo_and_the_peer_support_line_is_not_called_out(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(demo), "--json", "--date", "2026-11-20"]) == 0
    flags = json.loads(capsys.readouterr().out)["flags"]
    fired = {f["check_id"] for f in flags}
    expected = {r.id for r in all_rules() if r.check != "data_quality"}
    expected -= {"payments.no_policy"}  # the demo has a policy
    expected |= {"data_quality.bad_value", "data_quality.unknown_person"}
    assert expected <= fired, expected - fired
    new_rules = ("consultation.", "feedback.", "support.", "recruitment.", "values.")
    about_psl = [f for f in flags if f["project_id"] == "PSL" and f["check_id"].startswith(new_rules)]
    assert about_psl == []
