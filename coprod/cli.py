"""The ``coprod`` command: demo, validate, check, sync, report, status, install, serve and worker.

Made for two audiences: staff at a terminal (progress bars, a readable summary, the flags in
plain English) and cron (quiet when nothing changed, loud and specific when not, exit codes that
say what kind of problem it was; see README "Exit codes").
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import shlex
import shutil
import sys
import tomllib
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TextIO, cast

from coprod.alongside import alongside_for
from coprod.clock import today, zone_note
from coprod.config import (
    LoadedRecipe,
    RecipeInvalid,
    as_typed,
    holds_recipes,
    load_recipe,
    recipe_files,
    resolve_recipe_path,
)
from coprod.connectors.base import ConnectorError
from coprod.log_lines import Lines, VisibleFormatter
from coprod.placeholders import example_values, platforms_read, sent_examples
from coprod.sync import MEANINGS, SHRINK_AGAIN, ExitCode, RunResult, build_connectors, run
from coprod_core.flags import Flag, Severity, SubjectKind, jsonable
from coprod_core.lifecycle import ChangeKind
from coprod_core.recipe import RecipeProblem
from coprod_core.rules import all_rules, find, markdown_table
from coprod_core.text import count, visible, visible_lines

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from coprod.report.render import ReportKind

DEFAULT_MAX_AGE = "26h"
"""``coprod status --max-age``: a nightly sync's day, and 2 hours for its time to vary, so a night
missed shows at the next morning's check (36 hours let a sync at 02:30 missed pass an 08:00 check)."""
DEFAULT_MAX_WAIT = "1h"
"""``coprod status --max-wait``: how long a webhook event may wait (:data:`coprod.status.INBOX_SLOW`)."""

DEMO_DATE = date(2026, 11, 20)
"""The demo's fictional "today", so the demo shows the same flags whenever it is run."""

SEVERITY_MARK = {Severity.CRITICAL: "!!", Severity.WARNING: "! ", Severity.INFO: "i "}
log = logging.getLogger("coprod.cli")


def typed_command() -> str:
    """How to type coprod again in this shell: ``coprod`` when that is the one the shell finds, else
    the path it was started by (``.venv/bin/coprod`` after ``make demo``, or a virtualenv's
    ``bin/coprod`` that is not on the PATH), so a message never sends staff to "command not found"."""
    started = sys.argv[0] if sys.argv else ""
    if Path(started).name != "coprod":
        return "coprod"  # python -m coprod.cli, or a test calling main()
    found = shutil.which("coprod")
    if found and Path(found).resolve() == Path(started).resolve():
        return "coprod"
    return started


def bundled_demo() -> Traversable:
    """The demo recipe and its data, shipped inside the package (``coprod.recipes``)."""
    from importlib import resources  # for the demo only: a check does not need it

    return resources.files("coprod.recipes") / "demo"


def copy_tree(src: Traversable, target: Path) -> None:
    """Copy a packaged folder out (works from a wheel, a zip or a source checkout alike)."""
    target.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.name in (".coprod", "output", "__pycache__") or item.name.endswith(".py"):
            continue
        if item.is_dir():
            copy_tree(item, target / item.name)
        else:
            (target / item.name).write_bytes(item.read_bytes())


class Output:
    """Where words go: stdout for results, stderr for progress; plain text when not a terminal.

    A reader that stops early (``coprod check ... | head``) closes the pipe: from then on what
    would go to it is dropped, and the command carries on to its end and its real exit code (a
    sync still writes back), with no BrokenPipeError traceback.
    """

    def __init__(self, stream: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = stream or sys.stdout
        self.err = err or sys.stderr
        self.tty = self.err.isatty()
        self.buffered: list[str] = []
        self.heading: str | None = None
        """The line that names the recipe whose words come next, when a command runs several:
        written before the first of them (none when the recipe has nothing to say)."""
        self.headed = False

    def line(self, text: str = "") -> None:
        """Write ``text`` with characters nobody can see shown (``\\t``, ``<U+001B>``): an id or a
        status staff typed may hold an escape sequence, which a terminal would obey."""
        self._write(self.out, visible_lines(text))

    def shown(self, text: str) -> None:
        """Write ``text`` whose every part is already :func:`~coprod_core.text.visible` (a flag)."""
        self._write(self.out, text)

    def progress_line(self, text: str) -> None:
        """Plain progress off a terminal is held back, and shown only if the run stopped before it
        could print its summary of the rows read (check and sync alike)."""
        self.buffered.append(text)

    def flush_progress(self) -> None:
        for text in self.buffered:
            self._write(self.err, visible_lines(text))
        self.buffered.clear()

    def begin(self, heading: str | None) -> None:
        """A recipe of several starts: its words (if any) come under ``heading``."""
        self.heading = heading
        self.buffered.clear()

    def end(self) -> None:
        """A recipe of several is done: what it printed is pushed out before the next one starts, so
        that a cron mail (stdout and stderr in one) shows each recipe's words under its heading."""
        self.heading = None
        self.buffered.clear()
        self.flush()

    def before_log(self, record: logging.LogRecord) -> bool:
        """A logging filter: a log line about a recipe of several comes under its heading too."""
        self._announce()
        return True

    def _announce(self) -> None:
        if self.heading is None:
            return
        heading, self.heading = self.heading, None
        self._write(self.out, ("\n" if self.headed else "") + visible_lines(heading))
        self.headed = True
        self.flush()  # before what the recipe writes to stderr (progress, log lines)

    def flush(self) -> None:
        """Push out what is buffered, while a closed pipe can still be handled here."""
        for stream in (self.out, self.err):
            try:
                stream.flush()
            except BrokenPipeError:
                reader_gone(stream)

    def _write(self, stream: TextIO, text: str) -> None:
        """One write per line or flag, its newline included (``print`` writes the newline apart:
        two system calls each where the stream is unbuffered, as under ``PYTHONUNBUFFERED``)."""
        self._announce()
        try:
            stream.write(text + "\n")
        except BrokenPipeError:
            reader_gone(stream)


class HeadedStream(io.TextIOBase):
    """``output``'s stderr for code that prints to a stream of its own (the report): what it writes
    about one recipe of several comes under that recipe's heading, as the lines of :class:`Output`."""

    def __init__(self, output: Output) -> None:
        super().__init__()
        self.output = output

    def write(self, text: str) -> int:
        self.output._announce()
        try:
            return self.output.err.write(text)
        except BrokenPipeError:
            reader_gone(self.output.err)
            return len(text)

    def flush(self) -> None:
        self.output.flush()

    def isatty(self) -> bool:
        return self.output.tty


def reader_gone(stream: TextIO) -> None:
    """The pipe's reader went away: send the rest to /dev/null, so that neither later writes nor
    Python's flush at exit raise (the way ``yes | head`` ends quietly)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's StringIO): nothing will flush it at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class _Bar:
    """A rich progress bar on a terminal, shown from the first rows read: the heading of a recipe of
    several is written then, before it (a bar started with the run came before the heading, which
    waited for the recipe's first line of words; a recipe put off for its lock reads no rows, so
    shows neither). As a context manager, as ``Progress`` is: it goes at the end, if it came."""

    def __init__(self, output: Output) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn

        self.output = output
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("reading {task.description}: {task.completed} rows"),
            transient=True,
            console=Console(file=output.err),  # progress on stderr, like the plain lines: stdout is results
        )
        self.tasks: dict[str, Any] = {}
        self.shown = False

    def on_rows(self, what: str, n: int) -> None:
        if not self.shown:
            self.output._announce()
            self.bar.start()
            self.shown = True
        if what not in self.tasks:
            self.tasks[what] = self.bar.add_task(what, total=None)
        self.bar.update(self.tasks[what], completed=n)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            self.bar.stop()
            self.shown = False


def _progress(output: Output) -> tuple[Any, Any]:
    """A progress callback: a rich bar on a terminal, plain lines otherwise."""
    if output.tty:
        bar = _Bar(output)
        return bar, bar.on_rows

    last: dict[str, int] = {}

    def plain(what: str, n: int) -> None:
        last[what] = n

    class _Plain:
        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            for what, n in last.items():
                output.progress_line(f"read {what}: {count(n, 'row')}")

    return _Plain(), plain


def _load(path: str, output: Output) -> LoadedRecipe | None:
    try:
        return load_recipe(path)
    except RecipeInvalid as exc:
        _print_problems(exc, output)
        return None


def _print_problems(exc: RecipeInvalid, output: Output) -> None:
    output.line(f"The recipe has {len(exc.problems)} problem(s):")
    for p in exc.problems:
        output.line(f"  - {p}")


def wrap(text: str, indent: str = "     ", width: int = 100) -> str:
    """``text`` filled into lines of at most ``width`` characters, each starting with ``indent``.

    A greedy fill by words, as ``textwrap.fill`` lays out a plain sentence, without its splitting
    into chunks: ``coprod check`` prints thousands of messages, and that splitting was a tenth of
    the whole command's time. Lines break only between words (never at a hyphen, so
    "co-production" stays whole); a word longer than a line is cut.

    A message as the checks write it (words apart by single spaces, nothing else that is white
    space: every white space character but the plain space is unprintable) is cut where it is, at
    the last space that leaves a line of at most ``width``, line by line, without splitting it
    into words (half the time of the way below, for the 3,300 messages a 1x check prints). Any
    other text has its words joined by single spaces and one regular expression takes, line by
    line, the longest run of them that fits (what adding words one by one until the next would
    not fit gives, in one pass of the ``re`` engine); a text with a word longer than a line goes
    word by word (:func:`_fill_cutting`).
    """
    room = max(width - len(indent), 1)
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        lines: list[str] = []
        start, end = 0, len(text)
        while end - start > room:
            cut = text.rfind(" ", start, start + room + 1)
            if cut <= start:
                break  # a word longer than a line: cut word by word below
            lines.append(text[start:cut])
            start = cut + 1
        else:
            if not text:
                return ""
            lines.append(text[start:])
            return indent + ("\n" + indent).join(lines)
    words = text.split()
    if not words:
        return ""
    if max(map(len, words)) > room:
        return _fill_cutting(words, indent, room)
    return indent + ("\n" + indent).join(_fits(room).findall(" ".join(words)))


@cache
def _fits(room: int) -> re.Pattern[str]:
    """A line of at most ``room`` characters ending at a space or at the end of the text (the space
    is left out): with words of at most ``room`` characters there is always one."""
    return re.compile(f"(.{{1,{room}}})(?: |$)")


def _fill_cutting(words: list[str], indent: str, room: int) -> str:
    """The fill of :func:`wrap` word by word, cutting a word longer than a line."""
    lines: list[str] = []
    line: list[str] = []
    used = -1
    for word in words:
        while len(word) > room:
            if line:
                lines.append(indent + " ".join(line))
                line, used = [], -1
            lines.append(indent + word[:room])
            word = word[room:]
        if line and used + 1 + len(word) > room:
            lines.append(indent + " ".join(line))
            line, used = [], -1
        line.append(word)
        used += 1 + len(word)
    if line:
        lines.append(indent + " ".join(line))
    return "\n".join(lines)


def print_flags(flags: Sequence[Flag], output: Output) -> None:
    """Each flag as a heading line and its message, with a blank line after (one write per flag)."""
    for f in flags:
        subject = f.subject  # the title and message are shown visibly already (make_flag)
        output.shown(
            f"{SEVERITY_MARK[f.severity]} [{f.check_id}] {f.title} ({subject.kind.value} {visible(subject.id)})\n"
            f"{wrap(f.message)}\n"
        )


def print_summary(result: RunResult, output: Output, *, title: str) -> None:
    """What the run read, found and wrote, each line saying only what really happened."""
    output.line(title)
    # stopped before the checks (the shrink guard), no data-quality flag was made, let alone written
    why = "see data-quality flags" if result.checked or result.unchanged else "coprod check says why"
    for entity, c in result.counts.items():
        extra = f", {c.rejected} rejected ({why})" if c.rejected else ""
        output.line(f"  {entity:<11} {count(c.read, 'row')} read, {c.used} used{extra}")
    if result.unchanged:
        output.line("  sources     nothing changed since the last complete run today: nothing more read")
        return
    if not result.checked:
        output.line("  flags       not checked: the run stopped before the checks")
        return
    by_sev = Counter(f.severity for f in result.flags)
    output.line(
        f"  flags       {len(result.flags)}: {by_sev[Severity.CRITICAL]} critical, "
        f"{by_sev[Severity.WARNING]} warning, {by_sev[Severity.INFO]} info"
    )
    if result.diff is not None:
        changes = result.diff.counts()
        # flags closed as their person left the people list are closed too, not by the data: said
        # beside the resolved ones ("0 resolved" read as if nothing had closed)
        closed, named = changes["closed_as_removed"], changes["closed_as_named_removed"]
        also = f", {closed} closed as their person was removed" if closed else ""
        # a flag about a session (the hours flag) is not about a person: said on its own
        also += f", {named} closed as someone they named was removed" if named else ""
        output.line(
            f"  changes     {changes['new']} new, {changes['changed']} changed, {changes['reopened']} reopened, "
            f"{changes['resolved']} resolved{also}; {changes['still_open']} still open, "
            f"{changes['kept_by_staff']} kept as staff marked them"
        )
        if changes["removed"]:
            done = "would be" if result.dry_run else "are"
            people = count(len(result.diff.removed_people), "person", "people")
            before = changes["removed"] - closed - named
            earlier = f" ({before} of them resolved before)" if before else ""
            naming = any(
                c.kind is ChangeKind.REMOVED and c.known.subject_kind is not SubjectKind.PERSON
                for c in result.diff.changes
            )
            about = "about or naming" if naming else "about"
            output.line(
                f"  removed     {changes['removed']} flag(s) {about} {people} no longer in the people list{earlier}: "
                f"their names and details {done} replaced where coprod wrote them"
            )
            output.line(
                "              not expected? Check the people list's source (a CiviCRM API key that lost "
                "permissions sees fewer contacts); anyone back in it gets their flags again, open, with their words"
            )
        total = len(result.diff.changes)
        if result.dry_run:
            output.line(f"  written     none (dry run: {total} change(s) would be written)")
        elif total:
            output.line(f"  written     {len(result.write.written)} of {total} change(s)")
        if result.write.failed:
            output.line(f"  not written {len(result.write.failed)} (tried again next run)")
    _print_placements(result, output)


def _print_placements(result: RunResult, output: Output) -> None:
    """Where each project stands on the TLAP ladder, flagged or not, so staff see what is fine too
    (the placements the run already made: nothing is worked out again here)."""
    for a in result.placements:
        output.line(f"  ladder      '{a.project_name}': called {a.label.words}, evidence says {a.rung.words}")


AS_OF = "as of this date (default: today, in the recipe's timezone if it names one)"

KEPT_TO_THE_END: list[object] | None = None
"""Where :func:`_run` leaves each run's result when the process ends as soon as :func:`main`
returns, without freeing what it made (the ``coprod`` command: :mod:`coprod.command`); None
otherwise (a test, a program calling :func:`main`), and the result is freed as usual."""


def _run(
    loaded: LoadedRecipe,
    args: argparse.Namespace,
    output: Output,
    *,
    mode: str,
    keep: bool = True,
    lock_timeout: float | None = None,
) -> RunResult:
    """Run the recipe as the command's options say. ``keep``: the result may be left to the end of the
    process (:data:`KEPT_TO_THE_END`); never for one recipe of several, whose data must be freed
    before the next one is read. ``lock_timeout``: how long a sync waits for another run of the
    recipe (None: :data:`~coprod.sync.LOCK_WAIT`)."""
    bar, on_rows = _progress(output)
    run_date = args.date or (DEMO_DATE if getattr(args, "demo", False) else today(loaded.recipe.timezone))
    with bar:
        result = run(
            loaded,
            mode=mode,
            run_date=run_date,
            dry_run=getattr(args, "dry_run", False),
            allow_shrink=getattr(args, "allow_shrink", False),
            progress=on_rows,
            full=getattr(args, "full", False),
            lock_timeout=lock_timeout,
            alongside=alongside_for(loaded.env),
        )
    if keep and KEPT_TO_THE_END is not None:
        KEPT_TO_THE_END.append(result)
    return result


def _finish(
    result: RunResult,
    loaded: LoadedRecipe,
    output: Output,
    args: argparse.Namespace,
    *,
    title: str,
    always: bool,
    of_several: OneOfSeveral | None = None,
) -> int:
    if getattr(args, "json", False):
        _print_json(result, output, of_several)
        return int(result.exit_code)
    news = always or result.exit_code != ExitCode.OK or result.changed or result.warnings or output.tty
    if not news:
        return int(result.exit_code)  # quiet under cron when nothing changed
    if not (result.counts or result.unchanged):
        # Stopped before its summary: the rows read so far say how far it got. With a summary, its
        # counts say it ("people 40 rows read, 40 used"): check printed both on every run.
        output.flush_progress()
    for m in result.messages:
        output.line(f"coprod: {m}")
    for w in result.warnings:
        output.line(f"coprod: warning: {w}")
    if result.counts or result.unchanged:
        if result.exit_code not in (ExitCode.OK, ExitCode.PARTIAL_WRITE):
            title = f"Stopped '{loaded.recipe.name}': nothing was written"
        print_summary(result, output, title=title)
    if result.exit_code == ExitCode.OK and not always and not result.changed and not result.written_again:
        output.line("  nothing changed since the last run")
    return int(result.exit_code)


def _print_json(result: RunResult, output: Output, of_several: OneOfSeveral | None) -> None:
    """The run as JSON: one object, indented; for one recipe of several, one line (JSON Lines)
    starting with the recipe's name and path."""
    payload = result.summary() | {
        "messages": result.messages,
        "warnings": result.warnings,
        # Evidence as the tools receive it (amounts and hours as plain digits: "10", not "1E+1").
        "flags": [
            f.model_dump(mode="json", exclude={"evidence_json", "evidence"})
            | {"evidence": json.loads(f.evidence_json)}
            for f in result.flags
        ],
        # Every project's place on the ladder, flagged or not, with each criterion's result.
        "placements": [jsonable(a.placement()) for a in result.placements],
    }
    if of_several is None:
        output.line(json.dumps(payload, indent=2, default=str))
    else:
        output.line(
            json.dumps({"recipe": of_several.name, "path": str(of_several.file)} | payload, default=str)
        )


def cmd_validate(args: argparse.Namespace, output: Output) -> int:
    return each_recipe(args, output, _validate)


def _validate(
    loaded: LoadedRecipe, args: argparse.Namespace, output: Output, of_several: OneOfSeveral | None
) -> int:
    r = loaded.recipe
    if (state := _state_problem(loaded)) is not None:
        _print_problems(RecipeInvalid([state]), output)
        return ExitCode.CONFIG
    output.line(f"{loaded.path}: recipe '{r.name}' is valid")
    for entity, spec in r.entities.items():
        output.line(f"  {entity.value:<11} from source '{spec.source}' ({r.sources[spec.source].connector})")
    if r.timezone and (note := zone_note(r.timezone)) is not None:
        output.line(f"note: {note}")
    data = tomllib.loads(loaded.path.read_text(encoding="utf-8"))
    left = example_values(data)
    if left:
        output.line(
            f"but {len(left)} value(s) are still the example's: put in your own before the first sync "
            "(the recipe's README says where to find each):"
        )
        sent = {v.where: v for v in sent_examples(r)}  # these stop install, check, sync and report
        for v in left:
            output.line(f"  - {sent.get(v.where, v).line(loaded.path)}")
        if sent:
            output.line(
                f"install, check, sync and report send nothing to {' or '.join(platforms_read(r))} until the "
                f"{len(sent)} marked 'put in' are yours"
            )
    return ExitCode.OK


def _state_problem(loaded: LoadedRecipe) -> RecipeProblem | None:
    """Where the state is, when coprod cannot use it (``COPROD_STATE=mysql://...``, a folder): a sync
    refuses it, and the deploy README has staff run ``validate`` first, which said nothing."""
    from coprod.state import StateLocationInvalid, state_location

    try:
        state_location(loaded)
    except StateLocationInvalid as exc:
        where = "COPROD_STATE" if loaded.env.get("COPROD_STATE") else "[state] path"
        return RecipeProblem(file=str(loaded.path), section=where, message=str(exc))
    return None


def cmd_check(args: argparse.Namespace, output: Output) -> int:
    return each_recipe(args, output, _check)


def _check(
    loaded: LoadedRecipe, args: argparse.Namespace, output: Output, of_several: OneOfSeveral | None
) -> int:
    result = _run(loaded, args, output, mode="check", keep=of_several is None)
    code = _finish(
        result,
        loaded,
        output,
        args,
        title=f"Checked '{loaded.recipe.name}' (nothing written)",
        always=True,
        of_several=of_several,
    )
    if not args.json and result.counts:
        output.line()
        print_flags(result.flags, output)
    return code


def cmd_report(args: argparse.Namespace, output: Output) -> int:
    """The report (coprod/report/): for staff, for sharing (--share) or Easy Read; HTML or Markdown.
    With several recipes (or a folder of recipe folders), one file per recipe in the folder ``--out``
    names (:func:`~coprod.report.command.report_file_name`), then a line saying which were written."""
    from coprod.report.command import report_file_name
    from coprod.report.render import ReportKind

    several = named_recipes(args.recipe).several
    if args.format is None:  # `--out report.md` is asked for in Markdown: HTML in it would read as gibberish
        # (with several recipes --out is a folder, whose name asks for nothing)
        markdown_file = (
            not several and args.out is not None and args.out.lower().endswith(".md") and not args.easy_read
        )
        args.format = "md" if markdown_file else "html"
    if not several:
        return each_recipe(args, output, _report)
    kind = ReportKind(format=args.format, share=args.share, easy_read=args.easy_read)
    folder = _reports_folder(args, output, kind)
    if folder is None:
        return ExitCode.CONFIG
    written: list[Path] = []
    files: dict[str, str] = {}  # a file's name as Windows and macOS compare them -> the recipe writing it

    def into_folder(
        loaded: LoadedRecipe, args: argparse.Namespace, output: Output, of_several: OneOfSeveral | None
    ) -> int:
        name = report_file_name(loaded.recipe.name, kind)
        first = files.setdefault(name.casefold(), loaded.recipe.name)
        if first != loaded.recipe.name:
            output.line(
                f"coprod: recipe '{loaded.recipe.name}''s report would be {folder / name}, the file of "
                f"recipe '{first}''s on a system that does not tell capitals apart (Windows, macOS), so "
                "it was not made: give the two recipes names that differ in more than capitals"
            )
            return ExitCode.CONFIG
        return _report(loaded, args, output, of_several, out=folder / name, written=written)

    def say_written() -> None:
        if output.headed:  # a blank line after the recipes' words; none at the top of a quiet run's mail
            output.line()
        if written:
            output.line(
                f"coprod: {len(written)} report(s) written in {folder}: " + ", ".join(p.name for p in written)
            )
        else:
            output.line(f"coprod: no report was written in {folder}")

    return each_recipe(args, output, into_folder, done=say_written)


REPORT_SUFFIXES = (".html", ".htm", ".md")
"""Endings of a report file's name, refused as the name of a folder of several recipes' reports."""


def _reports_folder(args: argparse.Namespace, output: Output, kind: ReportKind) -> Path | None:
    """The folder ``--out`` names for the reports of several recipes, made if it is not there; None
    (said why) when it cannot be one. Checked before any recipe is read, so a mistake costs nothing."""
    problem = kind.problem()
    if problem:  # said once, not once per recipe
        output.line(f"coprod: {problem}")
        return None
    again = f"for example `{typed_command()} report {' '.join(shlex.quote(r) for r in args.recipe)} --out reports`"
    if args.out is None or args.out == "-":
        output.line(
            "coprod: with several recipes, each report is a file of its own in a folder: give the folder "
            f"with --out ({again}); the reports are not printed one after another, which would read as "
            "one document. Nothing was read"
        )
        return None
    folder = Path(args.out).expanduser()
    if folder.exists() and not folder.is_dir():
        output.line(
            f"coprod: --out {folder} is a file, and with several recipes --out names a folder to write "
            f"one report per recipe in (made if it is not there; {again}). Nothing was read or written"
        )
        return None
    if not folder.exists() and folder.suffix.lower() in REPORT_SUFFIXES:
        # `--out all.html`, typed for one page, would be made a folder that a browser shows as a listing.
        output.line(
            f"coprod: --out {folder} is a file's name, and with several recipes --out names a folder to "
            f"write one report per recipe in ({again}). Nothing was read or written"
        )
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        output.line(f"coprod: could not make the folder {folder} for the reports: {exc.strerror or exc}")
        return None
    return folder


def _report(
    loaded: LoadedRecipe,
    args: argparse.Namespace,
    output: Output,
    of_several: OneOfSeveral | None,
    *,
    out: Path | None = None,
    written: list[Path] | None = None,
) -> int:
    """One recipe's report: to ``--out`` or printed for one recipe, to ``out`` for one of several."""
    from coprod.report.command import make_report
    from coprod.report.render import ReportKind

    bar, on_rows = _progress(output)
    if of_several is None and args.out:
        out = Path(args.out)
    return make_report(
        loaded,
        ReportKind(format=args.format, share=args.share, easy_read=args.easy_read),
        out_path=out,
        run_date=args.date or today(loaded.recipe.timezone),
        stdout=output.out,
        stderr=output.err if of_several is None else cast(TextIO, HeadedStream(output)),
        tty=output.tty,
        reading=bar,
        on_rows=on_rows,
        written=written,
    )


def cmd_sync(args: argparse.Namespace, output: Output) -> int:
    return each_recipe(args, output, _sync)


def _sync(
    loaded: LoadedRecipe, args: argparse.Namespace, output: Output, of_several: OneOfSeveral | None
) -> int:
    first_try = of_several is not None and of_several.first_try
    result = _run(
        loaded, args, output, mode="sync", keep=of_several is None, lock_timeout=0 if first_try else None
    )
    if first_try and result.exit_code == ExitCode.LOCKED:
        # nothing said yet: it is said if the recipe is still locked at the end; a lock lost is
        # said once the recipe has been run again (:func:`_say_run_again`)
        raise LockedForNow(lost=result.lock_lost)
    if of_several is not None and result.exit_code == ExitCode.SHRINK_REFUSED:
        # --allow-shrink is taken for one recipe only: the message names the command for this one
        again = f"{typed_command()} sync {shlex.quote(of_several.shown)} --allow-shrink"
        alone = f"run that recipe alone with `{again}`"
        result.messages = [m.replace(SHRINK_AGAIN, alone) for m in result.messages]
    title = f"Synced '{loaded.recipe.name}'" + (" (dry run: nothing written)" if args.dry_run else "")
    code = _finish(result, loaded, output, args, title=title, always=args.dry_run, of_several=of_several)
    if of_several is not None and of_several.lock_lost:
        _say_run_again(loaded.recipe.name, code)
    return code


def _say_run_again(recipe: str, code: int) -> None:
    """A warning, once a recipe whose first run lost its lock has been run again: what happened to
    the first run and how the second ended. Put off without a word, it came last under a heading
    saying another run had held it, and nothing said that its first run had written to the tools
    and saved nothing."""
    how = (
        "finished (exit 0): its flags are written and saved"
        if code == ExitCode.OK
        else f"ended with exit {code} ({MEANINGS.get(code, 'see above')}), as said above"
    )
    log.warning(
        "recipe %s: its first run lost its run lock on the state database part-way (the connection "
        "holding it was cut), after writing its flags to the tools and before saving them in the "
        "state, so it saved nothing there; it was run again after the other recipes, reading, "
        "checking and writing again (writes are matched by fingerprint, so the ones sent twice "
        "changed nothing the second time), and that run %s",
        recipe, how,
    )  # fmt: skip


class OneOfSeveral(NamedTuple):
    """A recipe run with others in one command (``coprod sync RECIPE RECIPE``, ``coprod sync FOLDER``)."""

    file: Path
    """Its recipe file, as found from what was typed."""
    name: str | None = None
    """Its name, once it is loaded (None for a recipe that cannot be)."""
    first_try: bool = False
    """Its run lock is tried once, without waiting: a recipe another run holds (the webhook worker
    re-checking it) is put off (:class:`LockedForNow`) and run again after the others."""
    again: bool = False
    """It was put off for its lock and is run again now, after the others (waiting as one recipe's
    run waits)."""
    lock_lost: bool = False
    """It is run again because its first run lost its lock part-way, not because another run held it."""

    @property
    def shown(self) -> str:
        """The recipe as one types it: its folder when the file is a folder's recipe.toml."""
        return str(as_typed(self.file))

    @property
    def label(self) -> str:
        """What the last line calls it: its name, or where it is when it could not be read."""
        return self.name or self.shown


class Named(NamedTuple):
    """The recipes a command was given, each once, in the order they run."""

    files: list[Path]
    several: bool
    """More than one recipe named, or a folder of recipe folders: each recipe's words come under a
    heading naming it, and ``--json`` gives one line per recipe, however many recipes there are."""


def named_recipes(names: Sequence[str]) -> Named:
    """Each recipe file ``names`` stand for, in order, found as the webhook app finds the recipes of
    ``COPROD_RECIPES`` (:func:`~coprod.config.recipe_files`). A recipe named twice (by its folder
    and by a folder of recipe folders holding it, or by its folder and its file) is taken once,
    where it is first named. Several: more than one recipe, or a folder of recipes (whose runs say
    which recipe each is, however many it holds); one recipe typed twice is one recipe, which
    ``--allow-shrink`` accepts."""
    files: list[Path] = []
    seen: set[Path] = set()
    folder_of_recipes = False
    for name in names:
        found = recipe_files(name)
        if holds_recipes(Path(name).expanduser()):
            if found:
                folder_of_recipes = True
            else:  # an empty folder, or a recipe folder whose recipe.toml is missing: said as for one
                found = [resolve_recipe_path(name)]
        for file in found:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                files.append(file)
    return Named(files, folder_of_recipes or len(files) > 1)


RunOne = Callable[[LoadedRecipe, argparse.Namespace, Output, OneOfSeveral | None], int]


class Ended(NamedTuple):
    """How one recipe of several ended."""

    label: str
    code: int
    put_off: bool = False
    """Another run held its lock on the first try, or its first run lost the lock part-way: it is
    run again after the others."""
    lock_lost: bool = False
    """Put off because its first run lost its lock part-way (:attr:`RunResult.lock_lost`)."""


class LockedForNow(Exception):
    """A recipe of several found its lock held on the first try (:attr:`OneOfSeveral.first_try`).
    Waiting :data:`~coprod.sync.LOCK_WAIT` there would hold up every recipe after it, on a server
    whose worker is busy re-checking many; it is run again once the others are done. ``lost``: its
    first run took the lock and lost it part-way; it is run again all the same."""

    def __init__(self, lost: bool = False) -> None:
        super().__init__()
        self.lost = lost


PUT_OFF = "; run after the others: another run held it at first"
"""How the heading of a recipe run again at the end says why it comes out of order."""
LOST = "; run again after the others: its first run lost its run lock part-way"
"""The same, for a recipe whose first run lost its lock (:func:`_say_run_again` says more)."""


def each_recipe(
    args: argparse.Namespace, output: Output, run_one: RunOne, done: Callable[[], None] | None = None
) -> int:
    """Run every recipe named, one after another in this process, each one's data freed before the
    next is read. A recipe that is invalid, cannot read its source, is locked by another run or fails
    part-way is reported under its name and the next one runs. A recipe whose run lock another run
    holds (a sync's lock; check and validate take none) is not waited for there: it is put off and
    run again after the others, waiting then as one recipe's run waits, and said to be locked only
    if it still is. The exit code: 0 when every recipe ended 0, else the code of the first recipe,
    in the order run, that did not (README "Exit codes"). ``done``, with several recipes: called
    once they have all run, before the line naming those that ended with a problem."""
    named = named_recipes(args.recipe)
    if not named.several:
        loaded = _load(args.recipe[0], output)
        return ExitCode.CONFIG if loaded is None else run_one(loaded, args, output, None)
    if getattr(args, "allow_shrink", False):
        output.line(
            "coprod: --allow-shrink is taken with one recipe only: it accepts that one recipe's rows "
            "really were removed. Run that recipe alone with it "
            f"(`{typed_command()} {args.command} RECIPE --allow-shrink`); nothing was run"
        )
        return ExitCode.CONFIG
    ended: list[Ended] = []
    names: dict[str, OneOfSeveral] = {}
    json_lines = getattr(args, "json", False)  # validate has no --json
    put_off: list[OneOfSeveral] = []
    for one in [OneOfSeveral(file, first_try=True) for file in named.files]:
        output.begin(None if json_lines else f"== {one.shown}")
        try:
            end = _one_of_several(one, args, output, run_one, names)
        finally:
            output.end()
        if end.put_off:
            put_off.append(OneOfSeveral(one.file, again=True, lock_lost=end.lock_lost))
        else:
            ended.append(end)
    for one in put_off:
        output.begin(None if json_lines else f"== {one.shown}{LOST if one.lock_lost else PUT_OFF}")
        try:
            ended.append(_one_of_several(one, args, output, run_one, names))
        finally:
            output.end()
    if done is not None:
        done()
    failed = [e for e in ended if e.code != ExitCode.OK]
    if not failed:
        return ExitCode.OK
    if not json_lines:
        output.line()
        output.line(
            f"coprod: {len(failed)} of {len(ended)} recipes ended with a problem (above): "
            + ", ".join(f"{e.label} (exit {e.code})" for e in failed)
            + f"; the exit code is {failed[0].code}, the first one's"
        )
    return failed[0].code


def _one_of_several(
    one: OneOfSeveral,
    args: argparse.Namespace,
    output: Output,
    run_one: RunOne,
    names: dict[str, OneOfSeveral],
) -> Ended:
    """Load and run one recipe of several; whatever goes wrong ends this recipe only. Its result lives
    only in ``run_one``'s frame, so it is freed when that returns."""
    try:
        loaded = load_recipe(one.file)
    except RecipeInvalid as exc:
        if getattr(args, "json", False):
            refused = RunResult(exit_code=ExitCode.CONFIG, messages=[str(p) for p in exc.problems])
            _print_json(refused, output, one)
        else:
            _print_problems(exc, output)
        return Ended(one.label, ExitCode.CONFIG)
    one = one._replace(name=loaded.recipe.name)
    if output.heading is not None:
        output.heading = f"== {one.name} ({one.shown})" + (
            (LOST if one.lock_lost else PUT_OFF) if one.again else ""
        )
    first = names.setdefault(loaded.recipe.name, one)
    if first.file != one.file:  # (a recipe run again after the others is the same file)
        # the same name is the same flags and the same lock in the state store: the second would
        # resolve the first one's flags (the webhook app serves the first one only, too)
        message = (
            f"recipe '{one.name}' in {one.shown} has the same name as {first.shown}, named before "
            "it: the two would share their flags and lock in the state store (and the webhook app "
            "serves the first only), so only the first is taken. Give each recipe a name of its own "
            "(`name` in recipe.toml)"
        )
        if getattr(args, "json", False):
            _print_json(RunResult(exit_code=ExitCode.CONFIG, messages=[message]), output, one)
        else:
            output.line(f"coprod: {message}")
        return Ended(one.label, ExitCode.CONFIG)
    try:
        return Ended(one.label, run_one(loaded, args, output, one))
    except LockedForNow as put_off:
        return Ended(one.label, ExitCode.LOCKED, put_off=True, lock_lost=put_off.lost)
    except Exception as exc:  # a fault in coprod ends this recipe's run, not the others'
        return Ended(one.label, unexpected(exc, output))


def cmd_status(args: argparse.Namespace, output: Output) -> int:
    """Each recipe's last runs, flags and webhook backlog, from its state alone (coprod/status.py).
    With no recipe named, the recipes ``COPROD_RECIPES`` names (as the webhook app serves them)."""
    if not args.recipe:
        from coprod.config import load_env, path_list

        try:
            named = load_env(Path.cwd()).get("COPROD_RECIPES", "").strip()
        except RecipeInvalid as exc:  # a .env that cannot be read: its path and line, never its text
            _print_problems(exc, output)
            return ExitCode.CONFIG
        if not named:
            output.line(
                "coprod: say which recipes: name them (a recipe, its folder, or a folder of recipe "
                "folders, as for sync), or set COPROD_RECIPES (in the environment or ./.env) as the "
                "webhook app reads it"
            )
            return ExitCode.CONFIG
        args.recipe = path_list(named)  # as the webhook app reads the variable
    return each_recipe(args, output, _status)


def _status(
    loaded: LoadedRecipe, args: argparse.Namespace, output: Output, of_several: OneOfSeveral | None
) -> int:
    from coprod.state import STORE_PROBLEMS
    from coprod.status import gather

    try:
        status = gather(loaded, args.max_age, args.max_wait)
    except STORE_PROBLEMS as exc:
        if args.json:
            refused = {"recipe": loaded.recipe.name, "path": str(loaded.path), "exit_code": exc.exit_code}
            output.line(json.dumps(refused | {"messages": [str(exc)]}))
        else:
            output.line(f"coprod: recipe '{loaded.recipe.name}': {exc}")
        return int(exc.exit_code)
    if args.quiet and not status.worth_saying:
        return status.exit_code
    if args.json:
        output.line(json.dumps(status.as_json(), indent=2 if of_several is None else None))
    else:
        for line in status.lines():
            output.line(line)
    return status.exit_code


def cmd_install(args: argparse.Namespace, output: Output) -> int:
    return each_recipe(args, output, _install)


def _install(
    loaded: LoadedRecipe, args: argparse.Namespace, output: Output, of_several: OneOfSeveral | None
) -> int:
    """Prepare each of the recipe's tools. Every connector's install looks before it writes, so a
    recipe installed already makes no writes: ``coprod install FOLDER`` again, after a recipe is
    added to the folder, installs that one and only reads for the others."""
    try:
        connectors = build_connectors(loaded)
    except ConnectorError as exc:
        output.line(f"coprod: {exc}")
        return exc.exit_code
    code = int(ExitCode.OK)
    for name, connector in connectors.items():
        try:
            with connector:
                for line in connector.install():
                    output.line(f"[{name}] {line}")
        except ConnectorError as exc:
            # an error that already names the source ([sources.NAME]: ...) is not prefixed with it again
            output.line(str(exc) if exc.where == f"[sources.{name}]" else f"[{name}] {exc}")
            code = max(code, exc.exit_code)
    return int(code)


def cmd_demo(args: argparse.Namespace, output: Output) -> int:
    src = bundled_demo()
    if not (src / "recipe.toml").is_file():
        output.line(
            "coprod: the bundled demo is missing from this install; reinstall coprod from its wheel or "
            "its source folder (README: Installing)"
        )
        return ExitCode.CONFIG
    target = Path(args.dir)
    if not (target / "recipe.toml").is_file():
        try:
            copy_tree(src, target)
        except OSError as exc:
            output.line(
                f"coprod: could not copy the demo to {target}: {exc.strerror or type(exc).__name__}; "
                "give a folder coprod may make with --dir"
            )
            return ExitCode.CONFIG
    loaded = _load(str(target), output)
    if loaded is None:
        return ExitCode.CONFIG
    args.demo = True
    result = _run(loaded, args, output, mode="sync")
    # typed as it was: `coprod demo` alone would make and run ./coprod-demo, not the folder changed
    again = f"{typed_command()} demo" + ("" if args.dir == DEMO_DIR else f" --dir {shlex.quote(args.dir)}")
    if result.exit_code == ExitCode.SHRINK_REFUSED:
        result.messages = [m.replace(SHRINK_AGAIN, f"run `{again} --allow-shrink`") for m in result.messages]
    code = _finish(
        result,
        loaded,
        output,
        args,
        title=f"coprod demo: '{loaded.recipe.description or loaded.recipe.name}'",
        always=True,
    )
    if args.json:
        return code
    output.line(f"  as of       {DEMO_DATE:%d %B %Y} (the demo's date)")
    output.line()
    print_flags(result.flags, output)
    flags_file = next(iter(sorted(target.rglob("coprod-flags.csv"))), None)
    where = "open it in a spreadsheet; set a status to 'acknowledged'"
    if result.diff is not None and not result.changed:
        output.line("Nothing changed since the last run, so nothing was written.")
        if flags_file:
            output.line(f"The flags are in {flags_file}, as the last run left them ({where}).")
    elif flags_file and result.write.written:
        output.line(f"Flags written to {flags_file} ({where}).")
    output.line(f"The demo's recipe and data are in {target}/: change them and run `{again}` again.")
    return code


def cmd_rules(args: argparse.Namespace, output: Output) -> int:
    """Every rule coprod checks, like a linter's rule list (``--markdown``: README's table)."""
    if args.markdown:
        output.line(markdown_table())
        return ExitCode.OK
    rules = all_rules()
    width = max(len(r.id) for r in rules)
    for r in rules:
        output.line(f"{r.id:<{width}}  {r.severity.value:<8}  {r.title}")
    output.line()
    output.line("`coprod explain RULE` says what a rule checks, why it matters and what you can do.")
    return ExitCode.OK


def cmd_explain(args: argparse.Namespace, output: Output) -> int:
    """One rule's page: what it checks, why it matters (with its source), what staff can do."""
    # Typed as a flag shows it, in any case ("Payments.Overdue"); a check's name (``payments``)
    # explains each of its rules.
    typed = args.rule.strip().lower()
    rule = find(typed)
    rules = [rule] if rule is not None else [r for r in all_rules() if r.check == typed]
    if not rules:
        names = [r.id for r in all_rules()] + sorted({r.check for r in all_rules()})
        import difflib  # for a rule mistyped only

        close = difflib.get_close_matches(typed, names, n=1, cutoff=0.75)
        meant = f"did you mean '{close[0]}'? " if close else ""
        output.line(f"coprod: there is no rule '{args.rule}'; {meant}`coprod rules` lists them all")
        return ExitCode.CONFIG
    output.line("\n\n".join(r.page() for r in rules))
    return ExitCode.OK


def cmd_serve(args: argparse.Namespace, output: Output) -> int:
    try:
        from coprod.webhook_app.cli import serve
    except ImportError:
        output.line("coprod: the webhook app is not available in this install")
        return ExitCode.CONFIG
    return int(serve(host=args.host, port=args.port) or 0)


def cmd_worker(args: argparse.Namespace, output: Output) -> int:
    try:
        from coprod.webhook_app.cli import worker
    except ImportError:
        output.line("coprod: the webhook app is not available in this install")
        return ExitCode.CONFIG
    return int(worker() or 0)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date like 2026-11-21") from None


VERBOSE = "log what is read and written (counts only)"
RECIPE = "a recipe.toml file, or the folder holding one"
DEMO_DIR = "coprod-demo"
JSON = "print the counts, every flag with its evidence and each project's place on the ladder as JSON"
RECIPES = (
    "a recipe.toml file, the folder holding one, or a folder of recipe folders (every recipe in it); "
    "name as many as you like: they run one after another"
)
JSON_SEVERAL = JSON + " (with several recipes: one line per recipe, with its name and path)"
SEVERAL = (
    "Several recipes run one after another, each reported under its name; one that fails does not "
    "stop the others. The options apply to every recipe named. Exit code: 0 when every recipe ended "
    "0, else the code of the first recipe, in the order run, that did not."
)


STATUS = (
    "Reads the state store only: no platform is asked, no lock is taken, and it can run while a sync "
    "does. Exit code: 0 when every recipe had a successful sync within --max-age and no webhook event "
    "waiting longer than --max-wait (a last sync that failed after a success still within --max-age is "
    "said as a warning, and is 0); 7 when one had no successful sync in time (or none yet); 8 when one "
    "synced but has a webhook event stuck (is the worker running?); 2 a recipe or setting is wrong; 3 "
    "the state store could not be opened. With several recipes, the code of the first recipe that did "
    "not end 0."
)


def _length_of(option: str) -> Callable[[str], timedelta]:
    """The argparse ``type`` of an option taking a length of time: a wrong value is refused in
    that option's own words (:data:`coprod.status.LENGTHS`)."""

    def length(text: str) -> timedelta:
        from coprod.status import parse_length

        try:
            return parse_length(text, option)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return length


class ShowVersion(argparse.Action):
    """``coprod --version``: the installed version, looked up only when asked (argparse's own
    version action takes the text when the parser is made, for every command)."""

    def __init__(
        self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None
    ) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from coprod.version import shown_version

        sys.stdout.write(f"coprod {shown_version()}\n")  # on stdout, as argparse's own version action
        parser.exit()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="coprod", description="Checks whether co-production is real.")
    p.add_argument("-v", "--verbose", action="store_true", help=VERBOSE)
    p.add_argument(
        "--version", action=ShowVersion, help="say which coprod this is (the commit it was built from)"
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=CommandParser)

    d = sub.add_parser("demo", help="run the bundled demo project (no accounts needed)")
    d.add_argument("--dir", default=DEMO_DIR, help=f"where to put the demo's copy (default ./{DEMO_DIR})")
    d.add_argument("--json", action="store_true", help=JSON)
    d.add_argument("--date", type=_date, default=None, help=argparse.SUPPRESS)
    # the demo's data is there to be changed ("change them and run coprod demo again"): rows cut
    # from it stop the run as a sync's would, and the message says to run again with this
    d.add_argument(
        "--allow-shrink", action="store_true", help="accept data that has far fewer rows than last time"
    )
    d.set_defaults(func=cmd_demo, dry_run=False)

    v = sub.add_parser(
        "validate", help="check a recipe and report every problem at once", description=SEVERAL
    )
    v.add_argument("recipe", nargs="+", help=RECIPES)
    v.set_defaults(func=cmd_validate)

    c = sub.add_parser("check", help="read and check, print the flags; writes nothing", description=SEVERAL)
    c.add_argument("recipe", nargs="+", help=RECIPES)
    c.add_argument("--json", action="store_true", help=JSON_SEVERAL)
    c.add_argument("--date", type=_date, help=f"judge {AS_OF}")
    c.set_defaults(func=cmd_check)

    r = sub.add_parser(
        "report",
        help="write a report for staff, for sharing (--share) or in Easy Read",
        description="With several recipes (or a folder of recipe folders), --out names a folder, and "
        "each recipe's report is a file in it named from the recipe's name (youth-panel.html; "
        "youth-panel-shared.html with --share, youth-panel-easy-read.html with --easy-read). " + SEVERAL,
    )
    r.add_argument("recipe", nargs="+", help=RECIPES)
    r.add_argument(
        "--out",
        help="the file to write (default: print it); with several recipes, the folder to write them in",
    )
    r.add_argument(
        "--format",
        choices=("html", "md"),
        default=None,
        help="html (default) or md (Markdown; the default too for an --out file ending in .md)",
    )
    r.add_argument(
        "--share", action="store_true", help="hide small numbers and names, for sharing beyond staff"
    )
    r.add_argument(
        "--easy-read", action="store_true", help="the Easy Read version for the group (always shared)"
    )
    r.add_argument("--date", type=_date, help=f"report {AS_OF}")
    r.set_defaults(func=cmd_report)

    s = sub.add_parser(
        "sync",
        help="check and write the changed flags back to the tools",
        description=SEVERAL + " --allow-shrink is taken with one recipe only.",
    )
    s.add_argument("recipe", nargs="+", help=RECIPES)
    s.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    s.add_argument("--json", action="store_true", help=JSON_SEVERAL)
    s.add_argument(
        "--allow-shrink",
        action="store_true",
        help="accept a source that returned far fewer rows (one recipe only: name it alone)",
    )
    s.add_argument(
        "--full", action="store_true", help="read every source whole, even one that can tell nothing changed"
    )
    s.add_argument("--date", type=_date, help=f"judge {AS_OF}")
    s.set_defaults(func=cmd_sync)

    st = sub.add_parser(
        "status",
        help="when each recipe last synced, its open flags and webhook backlog (a daily check)",
        description=STATUS,
    )
    st.add_argument("recipe", nargs="*", help=RECIPES + " (default: COPROD_RECIPES)")
    st.add_argument(
        "--max-age",
        type=_length_of("--max-age"),
        default=DEFAULT_MAX_AGE,  # argparse reads a default given as text with ``type`` too
        help=f"how long ago the last successful sync may be, e.g. 26h, 2d (default {DEFAULT_MAX_AGE})",
    )
    st.add_argument(
        "--max-wait",
        type=_length_of("--max-wait"),
        default=DEFAULT_MAX_WAIT,
        help="how long a webhook event may wait in the inbox before the recipe is not OK (exit 8), "
        f"e.g. 1h, 90m (default {DEFAULT_MAX_WAIT})",
    )
    st.add_argument("--json", action="store_true", help="as JSON (with several recipes: one line per recipe)")
    st.add_argument(
        "--quiet",
        action="store_true",
        help="say nothing of a recipe that synced within --max-age, whose last sync did not fail and "
        "has no webhook event waiting over --max-wait (under cron: a mail only when something is wrong)",
    )
    st.set_defaults(func=cmd_status)

    i = sub.add_parser(
        "install",
        help="prepare the tools: flags tab, fields, webhook (safe to run twice)",
        description=SEVERAL + " Each recipe installed already is only read again, never written: run "
        "it again over the folder once a recipe is added to it.",
    )
    i.add_argument("recipe", nargs="+", help=RECIPES)
    i.set_defaults(func=cmd_install)

    r = sub.add_parser("rules", help="list every rule coprod checks")
    r.add_argument("--markdown", action="store_true", help="as the table in README.md")
    r.set_defaults(func=cmd_rules)

    e = sub.add_parser("explain", help="what a rule checks, why it matters and what you can do")
    e.add_argument("rule", help="a rule id, e.g. consultation.mislabelled (or a check: payments)")
    e.set_defaults(func=cmd_explain)

    sv = sub.add_parser("serve", help="run the webhook app locally (use gunicorn in production)")
    sv.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this machine only)"
    )
    sv.add_argument("--port", type=int, default=8080, help="the port to listen on (default 8080)")
    sv.set_defaults(func=cmd_serve)

    w = sub.add_parser("worker", help="process the webhook inbox (for several app processes)")
    w.set_defaults(func=cmd_worker)

    from coprod.state_commands import add_parsers

    add_parsers(sub)  # migrate, state copy
    return p


class CommandParser(argparse.ArgumentParser):
    """A command's parser: it takes ``-v`` too. "Run it again with -v" is typed at the end as often
    as after ``coprod``, so each command takes it in both places (SUPPRESS: a command without it
    keeps what was given before the command's name). A command's own commands (``state copy``) are
    made of this class as well: ``add_subparsers`` makes them of its parser's class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE)
        self._intermixing = False

    def parse_known_args(  # type: ignore[override]  # typeshed's overloads; the same arguments
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Options anywhere among the recipes: ``coprod sync a --dry-run b`` is ``coprod sync a b
        --dry-run``, as people type them. argparse alone takes the recipes up to the first option
        and refuses what follows it ("unrecognized arguments: b"). Its intermixed parse reads every
        option first, then the recipes; a command holding commands of its own (``state``) is parsed
        as before (argparse's intermixed parse takes no commands), and each of those commands is
        intermixed in its turn. An option means what it meant: only where it may be typed changes."""
        commands = any(
            a.nargs in (argparse.PARSER, argparse.REMAINDER) for a in self._get_positional_actions()
        )
        if self._intermixing or commands:
            return super().parse_known_args(args, namespace)
        self._intermixing = True  # Python 3.11 and 3.12's intermixed parse calls this method again
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False

    def error(self, message: str) -> NoReturn:
        """argparse's words, but a recipe left out says what to type: "the following arguments are
        required: recipe" was all `coprod validate`, typed as a first try, answered."""
        if message == "the following arguments are required: recipe":
            message = (
                f"say which recipe: {self.prog} recipe.toml (a recipe.toml file, the folder holding one, "
                "or a folder of recipe folders)"
            )
        super().error(message)


def shown_whatever_the_encoding(stream: TextIO) -> None:
    """A character the stream's encoding has no code for is written as ``?`` instead of stopping the
    command with UnicodeEncodeError. Output to a file or a pipe on Windows is cp1252 (the system's
    code page, not UTF-8), and a name such as "Łukasz", or an arrow, has no code there: ``coprod
    check > out.txt`` must still print every flag. The flags file and the tools keep the text whole.
    A stream that already says what to do with such characters is left as it is."""
    if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
        stream.reconfigure(errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        shown_whatever_the_encoding(stream)
    args = parser().parse_args(argv)
    output = Output()
    stderr = logging.StreamHandler()
    # a source's name, a file's or an error a platform sent never makes a line of its own
    stderr.setFormatter(VisibleFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    stderr.addFilter(output.before_log)  # under the heading of the recipe it is about, of several
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[stderr])
    try:
        return int(args.func(args, output))
    except KeyboardInterrupt:
        output.line("coprod: stopped")
        return 130
    except Exception as exc:  # the last line of defence: no traceback reaches staff
        return unexpected(exc, output)
    finally:
        output.flush()


def unexpected(exc: Exception, output: Output) -> int:
    """Say that something unexpected went wrong, without a traceback; exit 1."""
    # With -v, where it happened (files and lines only: an exception's message or the values
    # in it may hold personal data, so they are never printed).
    where = "".join(traceback.format_tb(exc.__traceback__)[-5:])
    logging.getLogger("coprod").info("unexpected %s at:\n%s", type(exc).__name__, Lines(where.rstrip("\n")))
    output.line(
        f"coprod: something unexpected went wrong ({type(exc).__name__}). Nothing was recorded as "
        "written that was not. Run again with -v and report it to your data officer."
    )
    return ExitCode.INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
