"""Loading a recipe: read the TOML, bring in ``.env``, validate everything before any request.

Every problem is collected and reported at once, each naming the file, the section and the field,
so a member of staff fixes the recipe in one go rather than one error per run: the recipe's own
schema, each source's and entity's connector options (by the connector's own models), paths
that would lead outside the recipe's folder, and the environment variables the recipe names.
``coprod validate``, ``check``, ``sync``, ``install`` and the webhook app's re-checks all load
through :func:`load_recipe`, so they refuse exactly the same things with the same words.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from coprod.alongside import PROCESSES_VARIABLE, processes_problem
from coprod.clock import zone_problem
from coprod.connectors.base import (
    DATA_DIRS_VARIABLE,
    ConfigError,
    DataPath,
    Variable,
    confine,
    key_file_problem,
    missing_variable,
)
from coprod.connectors.registry import check_source
from coprod_core.recipe import (
    RECIPE_NAME,
    Entity,
    EntitySpec,
    Recipe,
    RecipeProblem,
    SourceSpec,
    StateSpec,
    WebhookSpec,
    parse_recipe,
)

M = TypeVar("M", bound=BaseModel)

ENTITY_NAMES = {e.value for e in Entity}


class RecipeInvalid(Exception):
    """The recipe cannot be used; ``problems`` says everything that is wrong with it."""

    exit_code = 2

    def __init__(self, problems: list[RecipeProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class LoadedRecipe:
    """A recipe read and checked, with where it was read from and the environment it may use."""

    recipe: Recipe
    path: Path
    dir: Path
    env: dict[str, str]
    data_dirs: tuple[Path, ...] = ()
    """Folders outside ``dir`` the recipe's paths may name (``COPROD_DATA_DIRS``)."""


def resolve_recipe_path(path: str | Path) -> Path:
    """Accept a recipe file, or a folder holding ``recipe.toml``."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "recipe.toml"
    return p


def recipes_in(folder: Path) -> list[Path]:
    """The recipes in a folder of recipe folders, in the order of their paths: ``<folder>/*/recipe.toml``
    and ``<folder>/*.toml``. The one rule for "every recipe in a folder": the webhook app serves these
    (``COPROD_RECIPES``) and ``coprod sync FOLDER`` runs these, so the two never disagree about which
    recipes a server has."""
    return sorted([*folder.glob("*/recipe.toml"), *folder.glob("*.toml")])


def as_typed(file: Path) -> Path:
    """A recipe as one names it on the command line: its folder when the file is that folder's
    ``recipe.toml``, else the file itself (``recipes/youth-panel``, ``recipes/small-group.toml``).
    A ``recipe.toml`` in the working folder is itself: the recipe READMEs have it typed so, from
    its folder, and its folder would be said as ``.``."""
    return file.parent if file.name == "recipe.toml" and file.parent != Path(".") else file


def holds_recipes(path: Path) -> bool:
    """Whether ``path`` is a folder of recipe folders: a folder with no ``recipe.toml`` of its own."""
    return path.is_dir() and not (path / "recipe.toml").is_file()


def recipe_files(name: str | Path) -> list[Path]:
    """The recipe files ``name`` stands for: a recipe file itself, a folder's ``recipe.toml``, or every
    recipe in a folder of recipe folders (:func:`recipes_in`; none when it holds none)."""
    p = Path(name).expanduser()
    return recipes_in(p) if holds_recipes(p) else [resolve_recipe_path(p)]


def _no_recipe_file(file: Path, typed_folder: bool) -> str:
    """What to say when there is no recipe at ``file``, naming the recipes one level down when it
    was a folder of recipe folders: the folder ``COPROD_RECIPES`` names for the webhook app
    (``/srv/coprod/recipes``) holds several; validate, check, sync, install and report take them all,
    ``coprod migrate`` and a program loading a recipe one.

    ``recipe.toml`` typed (``typed_folder`` false) beside recipe folders, from the folder above the
    recipe's (the recipe READMEs' command with `cd` forgotten), is told to name one of them: not that
    the command takes one recipe at a time, which validate, check, sync, install and report do not."""
    inside = recipes_in(file.parent) if file.parent.is_dir() else []
    here = file.parent == Path(".")
    if file.name != "recipe.toml" or not inside:
        if file.is_absolute():
            return "no such recipe file: check the path (a recipe's folder, or its .toml file)"
        # typed in another folder than the recipe's (a new terminal, `cd` forgotten): "recipe.toml:
        # no such recipe file" said neither where coprod looked nor what to do
        return (
            f"no such recipe file in {Path.cwd()}, the folder coprod was run from: go to the recipe's "
            "folder first (cd), or give the recipe's whole path"
        )
    names = [as_typed(p).name for p in inside]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    example = as_typed(inside[0])
    if not typed_folder and here:
        return (
            f"no such recipe file in {Path.cwd()}, the folder coprod was run from, which holds recipe "
            f"folders ({shown}): give one of them in place of recipe.toml ({example}), or go to it first "
            f"(cd {example})"
        )
    if not typed_folder:
        return (
            f"no such recipe file; its folder holds recipe folders ({shown}): give one of them in "
            f"place of {file} ({example})"
        )
    return (
        f"no such recipe file; this folder holds recipes ({shown}): this command takes one recipe at "
        f"a time, for example {example} (validate, check, sync, install and report take the "
        "folder, and every recipe in it)"
    )


class EnvFileInvalid(RecipeInvalid):
    """A ``.env`` file that cannot be read as it is: each problem names the file and the line, never
    what is on it (a secret, often)."""


ENV_LINE_UNREAD = (
    "not read as NAME=value (a quote opened and not closed, a name with a space in it, or no name "
    "before '='), so nothing on it is set. Fix the line"
)


ENV_LINE_ALONE = (
    "one word alone, with no '=' after it, so nothing is set: a name whose value was left out, or a "
    "value (a key pasted on a line of its own) whose name was. Write it as NAME=value"
)
"""python-dotenv reads such a line as a name declared without a value and sets nothing, so the
variable was said to be "not set" with the line right there, or a key pasted alone was passed
over without a word. Never shown: the word may be the secret."""


def dotenv_values(path: Path) -> dict[str, str | None]:
    """The variables a ``.env`` file sets (python-dotenv), imported only where there is one: the
    import alone costs about 15 ms, a twentieth of a header-only ``coprod check``.

    Saved by Notepad, it may start with a byte order mark (read as such, not as part of the first
    name) or be UTF-16. A line python-dotenv cannot read would only be logged by it, and the
    variable then reported "not set" although it is right there: it is refused instead, naming the
    line (a quote left open takes every line after it up to the next quote with it). So is a line
    of one word alone (:data:`ENV_LINE_ALONE`). A Windows path in quotes is read as typed
    (:func:`_quoted_windows_paths`)."""
    from dotenv import dotenv_values as read
    from dotenv.parser import parse_stream

    def problem(section: str, message: str) -> EnvFileInvalid:
        return EnvFileInvalid([RecipeProblem(file=str(path), section=section, message=message)])

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise problem("", f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    encoding = "utf-16" if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise problem(f"line {line}", "not UTF-8 text: save the file as UTF-8") from None
    found = []
    bindings = list(parse_stream(io.StringIO(text)))
    for binding in bindings:
        if binding.error:
            found.append((binding.original.line, ENV_LINE_UNREAD))
        elif binding.key is not None and binding.value is None:
            found.append((binding.original.line, ENV_LINE_ALONE))
    if found:
        raise EnvFileInvalid(
            [RecipeProblem(file=str(path), section=f"line {n}", message=message) for n, message in found]
        )
    return read(stream=io.StringIO(text)) | _quoted_windows_paths(bindings)


WINDOWS_PATH = r"[A-Za-z]:\\|\\\\"
"""The start of a Windows path: a drive (``C:\\``) or a shared folder (``\\\\server``).

This module's patterns are kept as text and compiled where first used (``re``'s own cache keeps
them): every start of ``coprod`` imports this module, and most runs never read a ``.env`` file or a
recipe that is not TOML, so compiling them at import was time every command paid for nothing."""

QUOTED_VALUE = r"""(?s)[^=]*=[^\S\r\n]*(["'])((?:\\.|(?!\1)[^\\])*)\1"""
"""A ``NAME="value"`` line's quote and the text between the quotes, as python-dotenv finds them."""


def _quoted_windows_paths(bindings: Iterable[Any]) -> dict[str, str]:
    """The variables whose value is a Windows path in quotes, with the path as typed.

    Explorer's "Copy as path" puts a path in double quotes, and python-dotenv reads ``\\t``, ``\\n``,
    ``\\r``, ``\\b``, ``\\f``, ``\\v`` and ``\\a`` between double quotes as a tab, a line break and
    so on: ``"C:\\Users\\tom\\key.json"`` named a file that is not there (shown with a ``\\t``, so it
    read as the right path), and ``C:\\Users\\nadia`` one with a line break in it, taken for the key
    itself. Nobody means those characters in a path, so its backslashes are kept. Each binding is
    python-dotenv's own (:func:`dotenv.parser.parse_stream`); the text between the quotes is taken
    only where python-dotenv reads it back to the same value, so nothing else is changed."""
    from dotenv.parser import parse_stream

    found: dict[str, str] = {}
    for binding in bindings:
        if binding.key is None or binding.value is None:
            continue
        quoted = re.match(QUOTED_VALUE, binding.original.string)
        if quoted is None or quoted[2] == binding.value or not re.match(WINDOWS_PATH, quoted[2]):
            found.pop(binding.key, None)  # a later line of the same name wins, as in python-dotenv
            continue
        (again,) = parse_stream(io.StringIO(f"X={quoted[1]}{quoted[2]}{quoted[1]}"))
        if again.value == binding.value:
            found[binding.key] = quoted[2]
        else:
            found.pop(binding.key, None)
    return found


def is_dotenv(path: Path) -> bool:
    """Whether there is a ``.env`` file to read at ``path``: False when nothing is there at all.

    Something there that is not a plain file (a folder, a link to a file that is not there, a pipe)
    is refused, naming the path and never what it holds: passed over, the variables staff put "in
    .env" were said to be not set, or a command ran without them (the webhook app on another state
    store) without a word. A pipe is not read, which would wait for a writer for ever."""
    if path.is_file():
        return True
    if path.is_dir():
        what = "a folder, not a file: coprod reads its variables from a file named .env"
    elif path.is_symlink():
        what = "a link to a file that is not there"
    elif path.exists():
        what = "not a plain file (a pipe, a socket or a device)"
    else:
        return False
    raise EnvFileInvalid(
        [RecipeProblem(file=str(path), section="", message=f"{what}; make it a file of NAME=value lines")]
    )


def load_env(recipe_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment, completed by ``.env`` beside the recipe and in the working folder.

    Real environment variables always win over ``.env`` (so cron and systemd settings hold).
    """
    merged: dict[str, str] = {}
    for candidate in (Path.cwd() / ".env", recipe_dir / ".env"):
        if is_dotenv(candidate):
            merged.update({k: v for k, v in dotenv_values(candidate).items() if v is not None})
    merged.update(os.environ if env is None else env)
    return merged


STATE_VARIABLE = "COPROD_STATE"


def state_disagreement(recipe_dir: Path, env: Mapping[str, str] | None = None) -> RecipeProblem | None:
    """The problem when the ``.env`` beside the recipe and the working folder's name two different
    state stores, and the environment does not set it.

    A run reads the recipe's line (it is read last), and so does the worker's re-check of the recipe
    (the deploy units read ``/srv/coprod/.env`` as a command typed there does); but the webhook app
    keeps the deliveries it receives in the store its own folder's ``.env`` names, whatever a
    recipe's says. The Google Sheets README copies the server's line beside the recipe; once the
    server moved its state (to PostgreSQL), the recipe's flags and run lock stayed in the old SQLite
    file while its deliveries went to the database (``coprod status`` looked for them in the file),
    and nothing said so. Refused instead, with both files named (a store's address shown without its
    password)."""
    environ = os.environ if env is None else env
    if STATE_VARIABLE in environ:
        # the environment wins over both files, for this run and a unit alike: set empty too, when
        # neither file's store is used (the recipe's [state] path or its own folder's is)
        return None
    here, beside = Path.cwd() / ".env", recipe_dir / ".env"
    if not (is_dotenv(here) and is_dotenv(beside)) or here.resolve() == beside.resolve():
        return None
    ours = (dotenv_values(beside).get(STATE_VARIABLE) or "").strip()
    theirs = (dotenv_values(here).get(STATE_VARIABLE) or "").strip()
    if not (ours and theirs):
        return None
    from coprod.state import StateLocationInvalid, parse_location

    try:
        mine, other = parse_location(ours), parse_location(theirs)
    except StateLocationInvalid:
        return None  # said by the run that opens it, as for any address coprod cannot use
    if mine.engine == other.engine and (
        str(mine) == str(other)
        if mine.engine == "postgresql"
        else (mine.path or Path()).expanduser().resolve() == (other.path or Path()).expanduser().resolve()
    ):
        return None
    return RecipeProblem(
        file=str(beside),
        section="",
        message=(
            f"{STATE_VARIABLE} here is {mine}, but {here} (the .env of the folder coprod was run from) "
            f"sets it to {other}. A webhook app started from that folder keeps the deliveries it receives "
            f"in {other}, whatever a recipe's .env says, while this recipe's flags and run lock would be "
            f"in {mine}: coprod status would look for its deliveries in the wrong store, and moving the "
            f"server's state would leave this recipe's behind. Keep one: take the {STATE_VARIABLE} line "
            "out of this file, or make the two the same"
        ),
    )


def path_list(text: str) -> list[str]:
    """The paths a variable lists (``COPROD_RECIPES``, ``COPROD_DATA_DIRS``), separated by
    ``os.pathsep`` (':', ';' on Windows), each without the spaces around it and empty parts skipped:
    ``a.toml: b.toml`` or a ':' left at the end reads as the user who typed it meant. Every reader
    of such a variable (the webhook app, ``coprod status``, a recipe's data folders) takes it so."""
    return [part.strip() for part in text.split(os.pathsep) if part.strip()]


def allowed_data_dirs(recipe_dir: Path, env: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The folders the operator lets recipes read and write outside their own (``COPROD_DATA_DIRS``,
    separated by ``os.pathsep``), from the environment or the working folder's ``.env``.

    Never from the ``.env`` beside the recipe: a recipe's folder must not widen its own reach.
    """
    values: dict[str, str | None] = {}
    here = Path.cwd() / ".env"
    if is_dotenv(here) and here.resolve() != (recipe_dir / ".env").resolve():
        values.update(dotenv_values(here))
    values.update(os.environ if env is None else env)
    text = values.get(DATA_DIRS_VARIABLE) or ""
    return tuple(Path(p).expanduser() for p in path_list(text))


_TOML_WORDS: tuple[tuple[str, str], ...] = (
    (
        "Expected newline or end of document",
        "something follows a setting on the same line: put each setting on a line of its own",
    ),
    (
        "Invalid value",
        'a value coprod cannot read: text goes between straight double quotes ("people.csv"; a word '
        "processor's curly quotes do not count), a date is written 2026-03-03, a number without £ or commas",
    ),
    ("Cannot declare", "a section is written twice: keep one, with all its settings under it"),
    ("Cannot overwrite a value", "a setting is written twice in the same section: keep one"),
    ("Duplicate inline table key", "a setting is written twice between the same { }: keep one"),
    ("Illegal character '\\n'", "a text has no closing double quote on its line"),
    (
        "Invalid hex value",
        "a \\ between double quotes (a Windows path): write the path between single quotes "
        "('C:\\Users\\you\\data') or with / in place of \\",
    ),
    ("Unescaped '\\' in a string", "a \\ between double quotes: write that text between single quotes"),
    (
        "Expected '=' after a key",
        'a line is not a setting (name = value): a name with spaces goes between double quotes ("Service '
        'user" = "lived_experience"), and a note starts with #',
    ),
    ("Invalid date or datetime", "a date that is not a real day: write it as 2026-03-03"),
    ("Expected ']'", "a section's heading is missing its closing ]"),
    (
        "Invalid initial character for a key part",
        "a setting's name is missing or starts with a character a name cannot (a name with spaces goes "
        "between double quotes), or a { } of settings does not close on the line it opens",
    ),
    ("Unclosed inline table", "a { } of settings does not close on the line it opens"),
    ("Unclosed array", "a [ ] list is not closed"),
)
"""The TOML reader's words for the mistakes people make typing a recipe, said as what to change."""

_TOML_AT = r"(?s)^(?P<what>.*) \(at (?P<where>line \d+, column \d+|end of document)\)$"


def toml_problem(exc: tomllib.TOMLDecodeError) -> str:
    """A recipe that is not TOML, said with where and what to change: the reader's own words alone
    ("Expected newline or end of document after a statement (at line 13, column 25)", for README's
    `location = "people.xlsx", options = { sheet = "People" }` typed on one line) told a project worker
    nothing. The line itself is never quoted: it may be a secret pasted in the wrong place."""
    said = str(exc)
    found = re.match(_TOML_AT, said)
    what, where = (found["what"], found["where"]) if found else (said, "")
    plain = next((words for start, words in _TOML_WORDS if what.startswith(start)), "")
    at = f" at {where}" if where else ""
    return f"not valid TOML{at}: {plain} (TOML says: {what})" if plain else f"not valid TOML{at}: {what}"


def load_recipe(path: str | Path, env: Mapping[str, str] | None = None) -> LoadedRecipe:
    """Read and validate a recipe, its sources and its environment. Raises RecipeInvalid with every
    problem found."""
    file = resolve_recipe_path(path)
    shown = str(file)
    if not file.is_file():
        typed_folder = Path(path).expanduser().is_dir()
        raise RecipeInvalid(
            [RecipeProblem(file=shown, section="", message=_no_recipe_file(file, typed_folder))]
        )
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeInvalid([RecipeProblem(file=shown, section="", message=toml_problem(exc))]) from None
    except UnicodeDecodeError:
        raise RecipeInvalid([RecipeProblem(file=shown, section="", message="not UTF-8 text")]) from None
    values = load_env(file.parent, env)
    data_dirs = allowed_data_dirs(file.parent, env)
    recipe, problems = validate_recipe(data, shown, file.parent, values, data_dirs)
    if (apart := state_disagreement(file.parent, env)) is not None:
        problems.append(apart)
    if (processes := processes_problem(values)) is not None:
        problems.append(RecipeProblem(file=shown, section=PROCESSES_VARIABLE, message=processes))
    if problems or recipe is None:
        raise RecipeInvalid(problems)
    return LoadedRecipe(recipe=recipe, path=file, dir=file.parent, env=values, data_dirs=data_dirs)


def validate_recipe(
    data: dict[str, Any],
    file: str,
    recipe_dir: Path,
    env: Mapping[str, str],
    data_dirs: tuple[Path, ...] = (),
) -> tuple[Recipe | None, list[RecipeProblem]]:
    """Every problem with a parsed recipe, at once. Sections that are valid on their own are
    checked further (connector options, paths, variables) even when another section is not."""
    recipe, problems = parse_recipe(data, file)
    webhook: WebhookSpec | None
    state: StateSpec | None
    if recipe is not None:
        sources, entities = recipe.sources, recipe.entities
        webhook, state = recipe.webhook, recipe.state
    else:
        sources = _valid_parts(SourceSpec, data.get("sources"))
        entities = {Entity(k): v for k, v in _valid_parts(EntitySpec, data.get("entities")).items()}
        webhook = _valid_part(WebhookSpec, data.get("webhook", {}))
        state = _valid_part(StateSpec, data.get("state", {}))
    used = {spec.source for spec in entities.values()}
    recipe_name = data.get("name")
    variables: list[tuple[str, Variable]] = []
    for name, spec in sources.items():
        check = check_source(name, spec, entities, file, recipe_dir, data_dirs)
        problems.extend(check.problems)
        if check.options is not None and name in used:
            variables.extend((f"[sources.{name}]", v) for v in check.options.variables())
        if check.options is not None and isinstance(recipe_name, str) and RECIPE_NAME.fullmatch(recipe_name):
            problems.extend(
                RecipeProblem(file=file, section=f"[sources.{name}] {option}", message=message)
                for option, message in check.options.recipe_problems(recipe_name)
            )
    if webhook is not None and webhook.secret_env:
        secret = Variable(
            "secret_env", webhook.secret_env, "The webhook secret", optional_part="the [webhook] section"
        )
        variables.append(("[webhook]", secret))
    problems.extend(variable_problems(variables, env, file, recipe_dir))
    if state is not None and state.path:
        try:
            confine(recipe_dir, DataPath("[state] path", (state.path,)), data_dirs)
        except ConfigError as exc:
            problems.append(RecipeProblem(file=file, section=exc.where, message=exc.message))
    zone = data.get("timezone")
    if isinstance(zone, str) and (message := zone_problem(zone)) is not None:
        problems.append(RecipeProblem(file=file, section="timezone", message=message))
    return recipe, problems


MEANT_FOR_DOTENV = (".env.txt", "env.txt", ".env.example")
"""Names of a file meant to be ``.env``, the likeliest first: Notepad's, then the example copied."""


def misnamed_dotenv(recipe_dir: Path) -> str:
    """A sentence naming a file beside the recipe or in the working folder, where there is no
    ``.env``, that was meant to be it (:data:`MEANT_FOR_DOTENV`), or "".

    Notepad saves a file typed as ``.env`` as ``.env.txt`` unless "All files" is chosen, and
    Explorer hides the ``.txt``: the variables were then said to be not set, "add it to .env", with
    the line in a file that looks like ``.env``. Only the file's path is said, never what it holds."""
    folders = {folder.resolve(): folder for folder in (recipe_dir, Path.cwd())}
    for name in MEANT_FOR_DOTENV:
        for folder in folders.values():
            if (folder / name).is_file() and not (folder / ".env").is_file():
                said = (
                    f". There is a file {folder / name}, but coprod reads only a file named exactly .env: "
                    "rename it"
                )
                if name.endswith(".txt"):
                    said += ' (Notepad adds ".txt" to the name unless "All files" is chosen as the type)'
                return said
    return ""


def variable_problems(
    variables: Iterable[tuple[str, Variable]], env: Mapping[str, str], file: str, recipe_dir: Path
) -> list[RecipeProblem]:
    """Each variable (named in a section) that is not set, or names a file that is not there, said as
    a connector would; a variable named in two sections is reported once, where it is first named."""
    problems = []
    seen: set[str] = set()
    misnamed: str | None = None
    for section, variable in variables:
        if variable.name in seen:
            continue
        seen.add(variable.name)
        where = f"{section} {variable.option}"
        value = env.get(variable.name, "").strip()
        if not value:
            if misnamed is None:
                misnamed = misnamed_dotenv(recipe_dir)
            problems.append(
                RecipeProblem(
                    file=file,
                    section=where,
                    message=missing_variable(variable.name, variable.what, variable.optional_part) + misnamed,
                )
            )
        elif variable.holds_file:
            path = Path(value).expanduser()
            path = path if path.is_absolute() else recipe_dir / path
            message = key_file_problem(variable.name, value, path, variable.file)
            if message is not None:
                problems.append(RecipeProblem(file=file, section=where, message=message))
    return problems


def _valid_part(model: type[M], raw: Any) -> M | None:
    """The section as ``model``, or None if it is not valid (``parse_recipe`` reported it already)."""
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _valid_parts(model: type[M], raw: Any) -> dict[str, M]:
    """The valid tables of a ``[sources.*]`` or ``[entities.*]`` section, by name."""
    if not isinstance(raw, dict):
        return {}
    parts = {}
    for name, table in raw.items():
        part = _valid_part(model, table)
        if part is not None and (model is not EntitySpec or name in ENTITY_NAMES):
            parts[str(name)] = part
    return parts
