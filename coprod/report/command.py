"""``coprod report RECIPE``: run the checks, gather the facts, write the report, remember when.

Like the other commands: progress on a terminal, nothing printed under cron when all went well,
a sentence (never a traceback) and the usual exit codes when not. The report reads the state
store (flag statuses staff set, what was resolved) but changes nothing in it except the date of
the last report of its kind, which the clock gives here, in the CLI, never in the core.

When a source asks for it (Sheets ``summary_tab``), the summary of the report for sharing is written
into the tool after the file: with the connectors the checks read through, so the Sheets write is
one request on top of the reads the checks made anyway.
"""

from __future__ import annotations

import codecs
import os
import re
import tempfile
from collections.abc import Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from coprod.alongside import alongside_for
from coprod.config import LoadedRecipe
from coprod.connectors.base import Connector, ConnectorError
from coprod.report.facts import ReportFacts, gather
from coprod.report.render import ReportKind, render
from coprod.report.summary_tab import build_summary
from coprod.state import STORE_PROBLEMS, open_to_read, state_location
from coprod.sync import ExitCode, ProgressFn, build_connectors, run
from coprod_core.lifecycle import KnownFlag
from coprod_core.text import visible_lines

if TYPE_CHECKING:
    from rich.status import Status

META_LAST = "report.last.{audience}"
"""State-store meta key: the run date of the last report made for this audience."""


WINDOWS_DEVICES = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?", re.IGNORECASE)
"""Names Windows keeps for devices, with any extension: a file ``nul.html`` cannot be made there."""

KIND_SUFFIX = {"staff": "", "share": "-shared", "easy_read": "-easy-read"}
"""What a report file's name says after the recipe's name: which report it is, so that a report for
sharing written into a folder never has the staff report (names, small numbers) written over it,
nor the other way round."""


def report_file_name(recipe_name: str, kind: ReportKind) -> str:
    """The file a recipe's report is written to, in a folder of reports (``coprod report FOLDER --out
    REPORTS``): its name (a recipe's name is letters, digits, ``-``, ``_`` and ``.`` already; anything
    else becomes ``_``), which report it is, and the format's extension: ``youth-panel.html``,
    ``youth-panel-shared.html``, ``youth-panel-easy-read.html``, ``youth-panel.md``. A name Windows
    keeps for a device (``con``, ``nul``) gets a ``_`` after it."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", recipe_name)
    if WINDOWS_DEVICES.fullmatch(safe):
        safe += "_"
    return f"{safe}{KIND_SUFFIX[kind.audience]}.{kind.format}"


@dataclass(frozen=True)
class History:
    known: dict[str, KnownFlag] | None
    last_report: date | None


def read_history(loaded: LoadedRecipe, audience: str) -> History:
    """What the state store remembers, without creating a state file where none exists, or upgrading
    one an older coprod left (read as it is)."""
    state = open_to_read(state_location(loaded))
    if state is None:
        return History(None, None)
    try:
        name = loaded.recipe.name
        synced = bool(state.runs(name, limit=1))
        last = state.get_meta(name, META_LAST.format(audience=audience))
        return History(
            known=state.known_flags(name) if synced else None,
            last_report=date.fromisoformat(last) if last else None,
        )
    finally:
        state.close()


def remember(loaded: LoadedRecipe, audience: str, run_date: date) -> None:
    """The report's date, for the next one's "since". Not in a store an older coprod left (read as it
    is): writing there would need it upgraded first, which ``coprod migrate`` or the next sync does."""
    state = open_to_read(state_location(loaded))
    if state is None:
        return  # never synced: there is no history to be "since"
    try:
        if state.read_as is not None:
            return
        state.set_meta(loaded.recipe.name, META_LAST.format(audience=audience), run_date.isoformat())
    finally:
        state.close()


def write_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename: a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


PRINTED_TO_A_TERMINAL = (
    "coprod: that was the report's web page (HTML), printed because --out was not given. To open it in "
    "a browser, write it to a file: run the same command with --out report.html added."
)
"""Said after the page, on a terminal only: `coprod report R` typed without --out scrolls a whole
page of HTML past a newcomer, who is left with its last lines and no report to open."""


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a stream without the question, or closed
        return False


def print_document(stream: TextIO, text: str) -> None:
    """A report printed goes out in UTF-8, the encoding its page declares, whatever the stream's own
    (cp1252 where Windows sends output to a file), so ``coprod report R > report.html`` makes the
    same page as ``--out report.html``. A stream that is UTF-8 already (a terminal, Linux, macOS) or
    takes no bytes is written as text."""
    raw = getattr(stream, "buffer", None)
    if raw is None or codecs.lookup(stream.encoding or "utf-8").name == "utf-8":
        stream.write(text)
        return
    stream.flush()
    raw.write(text.encode("utf-8"))
    raw.flush()


def make_report(
    loaded: LoadedRecipe,
    kind: ReportKind,
    *,
    out_path: Path | None,
    run_date: date,
    stdout: TextIO,
    stderr: TextIO,
    tty: bool,
    reading: AbstractContextManager[object],
    on_rows: ProgressFn,
    connectors: Mapping[str, Connector] | None = None,
    written: list[Path] | None = None,
) -> int:
    """``connectors``: the recipe's connectors to read and write through (tests pass them); by
    default they are built from the recipe, and closed at the end. ``written``: where the report's
    file is added once it is written (a command writing several says which at the end)."""
    problem = kind.problem()
    if problem:
        print(visible_lines(f"coprod: {problem}"), file=stderr)
        return ExitCode.CONFIG
    try:
        conns = dict(connectors) if connectors is not None else build_connectors(loaded)
    except ConnectorError as exc:
        print(visible_lines(f"coprod: {exc}"), file=stderr)
        return exc.exit_code
    with ExitStack() as owned:
        if connectors is None:
            for c in conns.values():
                owned.callback(c.close)
        try:  # before reading: a store that cannot be opened stops the report as it stops a sync
            history = read_history(loaded, kind.audience)
        except STORE_PROBLEMS as exc:
            print(visible_lines(f"coprod: {exc}"), file=stderr)
            return int(exc.exit_code)
        with reading:
            result = run(
                loaded,
                mode="check",
                run_date=run_date,
                progress=on_rows,
                connectors=conns,
                alongside=alongside_for(loaded.env),
            )
        if result.exit_code != ExitCode.OK or result.dataset is None:
            for m in result.messages:
                print(visible_lines(f"coprod: {m}"), file=stderr)
            return int(result.exit_code) or ExitCode.INTERNAL
        status = _status(stderr) if tty else None
        if status is not None:
            status.start()
        try:
            facts = gather(
                result.dataset,
                result.flags,
                result.counts,
                loaded.recipe.settings,
                run_date,
                recipe_name=loaded.recipe.name,
                description=loaded.recipe.description,
                known=history.known,
                last_report=history.last_report,
                assessments=result.placements,
                profiles=result.profiles,
                short_lines_in_kobotoolbox=any(
                    loaded.recipe.sources[spec.source].connector == "kobotoolbox"
                    for spec in loaded.recipe.entities.values()
                ),
            )
            text = render(facts, kind)
        finally:
            if status is not None:
                status.stop()
        if out_path is None:
            print_document(stdout, text)
            if kind.format == "html" and _isatty(stdout):  # pages of markup scrolled past: say what to do
                print(PRINTED_TO_A_TERMINAL, file=stderr)
        else:
            try:
                write_atomically(out_path, text)
            except OSError as exc:
                print(
                    f"coprod: could not write the report to {out_path}: {_why_not_written(out_path, exc)}",
                    file=stderr,
                )
                return ExitCode.CONFIG
            if written is not None:
                written.append(out_path)
        try:
            remember(loaded, kind.audience, run_date)
        except STORE_PROBLEMS as exc:
            print(
                f"coprod: the report was written, but not remembered in the state store: {exc}", file=stderr
            )
            return int(exc.exit_code)
        if tty and out_path is not None:
            size = len(text.encode("utf-8"))
            print(f"Report written to {out_path} ({size / 1024:,.0f} KB).", file=stderr)
        return write_summaries(conns, facts, stderr=stderr, tty=tty)


def write_summaries(conns: Mapping[str, Connector], facts: ReportFacts, *, stderr: TextIO, tty: bool) -> int:
    """The shared report's summary into each source that asks for it (most ask nothing).

    The report itself is already written: a tool that refuses the summary is said in a sentence
    and its exit code returned, and the other sources still get theirs.
    """
    summary = None
    code: int = ExitCode.OK
    for name, connector in sorted(conns.items()):
        if summary is None:
            summary = build_summary(facts)
        try:
            done = connector.write_summary(summary)
        except ConnectorError as exc:
            print(
                f"coprod: the report was made, but its summary was not written to source '{name}': {exc}",
                file=stderr,
            )
            code = code or exc.exit_code
            continue
        if done and tty:
            print(f"Summary written: {done}.", file=stderr)
    return code


def _status(stderr: TextIO) -> Status:
    """A spinner on the terminal while the report is built (the reading has its own progress)."""
    from rich.console import Console

    return Console(file=stderr).status("Building the report")


def _why_not_written(out_path: Path, exc: OSError) -> str:
    """The system's reason, and what to do where it is plain: "No such file or directory" alone
    left staff to work out that --out named a folder that is not there."""
    folder = out_path.parent
    try:  # a folder inside one this user may not enter cannot even be looked at (Permission denied)
        if not folder.exists():
            return f"there is no folder {folder}: make it first, or give --out a file in a folder that exists"
        if not folder.is_dir():
            return f"{folder} is a file, not a folder: give --out a file in a folder"
    except OSError:
        pass
    if isinstance(exc, PermissionError):
        return f"coprod may not write there ({exc.strerror}): give --out a file in a folder of yours"
    return str(exc.strerror or exc)
