"""What the webhook app needs to know: which recipes it serves, where the inbox lives, how to re-check.

Settings come in as data (a ``WebhookSettings`` or a plain mapping, as tests and the benchmark
pass them) or, when none are given, from the environment and ``.env``. Secrets are read through
the variable each recipe's ``[webhook] secret_env`` names, and never shown by ``repr``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from coprod.clock import today
from coprod.connectors.base import Delivery
from coprod.live import HOLD
from coprod.state import StateLocationInvalid, StateStore, StoreLocation, parse_location
from coprod.webhook_app.inbox import inbox_location
from coprod_core.recipe import Recipe, parse_recipe

if TYPE_CHECKING:
    from coprod.config import LoadedRecipe

log = logging.getLogger("coprod.webhook_app")

MAX_BODY_BYTES = 1024 * 1024
"""Deliveries are small notices; anything over 1 MiB is refused with 413 before it is read."""

Recheck = Callable[..., "int | None"]
"""Re-check one recipe: called with its name and recipe file (and, when it has
``takes_deliveries``, the deliveries it is for). A non-zero result or an exception means the
re-check failed and its events stay in the inbox to be retried with back-off."""


class SettingsError(Exception):
    """The app cannot start as configured; the message names the variable or file to fix."""


@dataclass(frozen=True)
class RecipeHook:
    """One recipe the app accepts deliveries for, with its secret (kept out of ``repr``)."""

    name: str
    path: Path
    header: str = "X-Coprod-Secret"
    secret_env: str | None = None
    secret: str | None = field(default=None, repr=False)
    """The ``[webhook]`` secret: signs Sheets and CiviCRM notices (and KoboToolbox's, see below)."""
    kobo_header: str = "X-Coprod-Secret"
    kobo_secret_env: str | None = None
    kobo_secret: str | None = field(default=None, repr=False)
    """What a KoboToolbox REST Service sends: the kobotoolbox source's ``hook_header`` and
    ``hook_secret_env`` when the recipe has one (``coprod install`` set up the hook with them),
    else the ``[webhook]`` section's."""

    def enabled(self, platform: str) -> bool:
        return bool(self.kobo_secret if platform == "kobotoolbox" else self.secret)


def _opened(name: str, path: Path) -> tuple[LoadedRecipe, StateStore] | int:
    """The recipe and its state store, or the exit code after logging why not (in the words
    ``coprod sync`` prints under cron: they name the file, section and field, never an answer)."""
    from coprod.config import RecipeInvalid, load_recipe
    from coprod.state import STORE_PROBLEMS, state_location

    try:
        loaded = load_recipe(path)
        return loaded, _kept_open(state_location(loaded))
    except RecipeInvalid as exc:
        for problem in exc.problems:
            log.warning("recipe %s: %s", name, problem)
        return int(exc.exit_code)
    except STORE_PROBLEMS as exc:
        log.warning("recipe %s: %s", name, exc)
        return int(exc.exit_code)


def sync_recheck(name: str, path: Path) -> int:
    """The re-check as a normal ``coprod sync`` of the recipe, writing only the difference (what
    every delivery cost before the worker held the dataset; ``benchmarks/bench_recheck.py`` keeps
    it as the comparison).

    What went wrong is logged, so the worker's log says why a backlog grows rather than only an
    exit code."""
    from coprod.live import WHOLE_READ
    from coprod.sync import run

    opened = _opened(name, path)
    if isinstance(opened, int):
        return opened
    loaded, store = opened
    result = run(loaded, mode="sync", state=store, recorded_as=WHOLE_READ)
    for message in result.messages:
        log.warning("recipe %s: %s", name, message)
    return int(result.exit_code)


class LiveRecheck:
    """The production re-check: the recipe's dataset held in memory by this process
    (``coprod.live``) takes the deliveries' changes, and only the flags they can touch are checked
    again and written back. The first re-check, and any after another run saved the flags (the
    nightly sync), reads everything, as ``sync_recheck`` does. Problems are logged as
    ``sync_recheck`` logs them."""

    takes_deliveries = True

    def __call__(self, name: str, path: Path, deliveries: Sequence[Delivery] = ()) -> int:
        from coprod.live import held

        opened = _opened(name, path)
        if isinstance(opened, int):
            return opened
        loaded, store = opened
        with held(loaded) as live:  # in use: never dropped under this re-check
            outcome = live.recheck(store, deliveries, today(loaded.recipe.timezone))
        for message in outcome.messages:
            log.warning("recipe %s: %s", name, message)
        if outcome.whole and outcome.exit_code in (0, 4):  # read and checked, written or partly
            # (one that stopped says why above, and the worker its exit code: "read everything (0
            # change(s) written)" after "could not reach Google" read as if it had)
            why = f"{outcome.why}; " if outcome.why else ""
            log.info("recipe %s: read everything (%s%d change(s) written)", name, why, outcome.written)
        return outcome.exit_code


live_recheck = LiveRecheck()


_STORES: dict[tuple[int, StoreLocation], StateStore] = {}
_STORES_LOCK = threading.Lock()


def _kept_open(location: StoreLocation) -> StateStore:
    """The re-checks' state store, opened once per process and kept: a worker's re-checks share its
    connections (with PostgreSQL a pool, instead of three new connections, each a new server
    process, and a schema check for every re-check). Keyed by process: nothing crosses a fork."""
    key = (os.getpid(), location)
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = StateStore.open(location)
        return store


def close_kept_stores() -> None:
    """Close the stores this process kept open for re-checks (when its worker stops)."""
    with _STORES_LOCK:
        for (pid, _), store in list(_STORES.items()):
            if pid == os.getpid():
                store.close()
                del _STORES[(pid, _)]


ON = frozenset({"1", "true", "yes", "on"})
OFF = frozenset({"", "0", "false", "no", "off"})
"""The words a yes-or-no setting (``COPROD_WEBHOOK_FSYNC``) takes, in any capitals."""

NO_RECIPES = "no recipes found: set COPROD_RECIPES to a recipe file or a folder of recipes"
"""Said by ``coprod serve``, ``coprod worker`` and gunicorn's start (``gunicorn_start``), exit 2: an
app with no recipe answers 404 to every delivery, and a worker has nothing to re-check."""


@dataclass(frozen=True)
class WebhookSettings:
    recipes: Mapping[str, RecipeHook]
    """URL name -> recipe. ``/hooks/<platform>/<name>`` answers 404 for any other name."""
    state_path: Path | str
    """The sync's state (``COPROD_STATE``): a SQLite file, with the inbox in its own file beside
    it, or a ``postgresql://`` address, whose database also holds the inbox."""
    recheck: Recheck = live_recheck
    worker_thread: bool = True
    """Run the worker as a thread inside each app process (off when ``coprod worker`` runs apart)."""
    poll_interval: float = 1.0
    """How often an idle worker looks at the inbox (a delivery to the same process wakes it at once)."""
    lease_seconds: float = 30.0
    """A claim not renewed for this long is taken to be from a dead worker and is picked up again. A
    worker renews its claims every third of this while it re-checks, so a long re-check keeps them;
    30 s lets a worker systemd restarted (or another) take a killed one's events half a minute
    after it died, and still rides out a database that stops answering for less than twenty seconds."""
    backoff_base: float = 10.0
    backoff_max: float = 900.0
    keep_done_seconds: float = 7 * 24 * 3600.0
    """Processed events are kept this long so a late re-send is still recognised as a duplicate."""
    max_body_bytes: int = MAX_BODY_BYTES
    fsync_each_receipt: bool = False
    """Fsync the inbox on every receipt (survives a power cut, at a few ms per delivery); by default a
    receipt survives the process being killed, and the nightly sync covers a power cut."""
    worker_hold: int = HOLD
    """How many recipes a worker process holds in memory at most (``COPROD_WORKER_HOLD``; 0: none,
    every delivery reads everything). One more drops the least recently re-checked, whose next
    delivery then reads everything (``coprod.live.held``). Each app process with a worker thread
    counts as a worker.

    A count, not a memory budget: what a held recipe costs cannot be measured both soundly and
    cheaply. Walking its dataset object by object is a pass over millions of objects at 1x after
    every re-check that is meant to cost one response; tracemalloc slows every allocation of the
    process; and the process's resident memory falls by less than half of what a recipe took when
    it is freed (Python and the C library keep the rest, and build the next recipe in it), so a
    budget read from it would drop recipe after recipe while getting little back. A recipe's cost
    grows with its data, which its operator knows: recipes/deploy/README.md gives the figures to
    size by (about 300 MiB for the 1x benchmark's 10,000 people and 200,000 attendances, measured by
    ``benchmarks/bench_hold.py``)."""

    def __post_init__(self) -> None:
        if (
            isinstance(self.worker_hold, bool)
            or not isinstance(self.worker_hold, int)
            or self.worker_hold < 0
        ):
            raise SettingsError(
                f"worker_hold (COPROD_WORKER_HOLD) must be a whole number of recipes, 0 or more, "
                f"not {self.worker_hold!r}"
            )

    @property
    def state_location(self) -> StoreLocation:
        return parse_location(self.state_path)

    @property
    def inbox_location(self) -> StoreLocation:
        """``state.sqlite`` -> ``state-inbox.sqlite`` beside it; a PostgreSQL database holds both."""
        return inbox_location(self.state_location)

    @property
    def inbox_path(self) -> Path | None:
        """The inbox file (SQLite only)."""
        return self.inbox_location.path

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> WebhookSettings:
        """Build settings from plain data: ``recipes`` maps names to recipe paths (or is a folder).

        ``env`` (optional) is where secrets are looked up instead of the process environment.
        """
        options = dict(data)
        env = options.pop("env", None)
        recipes = options.pop("recipes", None)
        if recipes is None:
            raise SettingsError(
                "settings need 'recipes': a folder of recipes or a mapping name -> recipe file"
            )
        hooks = load_hooks(recipes, env)
        state = options.pop("state_path", None)
        from coprod.config import RecipeInvalid

        try:
            where = parse_location(str(state)) if state else default_state_location(hooks, env)
        except StateLocationInvalid as exc:
            raise SettingsError(f"COPROD_STATE: {exc}") from None
        except RecipeInvalid as exc:  # the working folder's .env, read for COPROD_STATE: by path or line
            raise SettingsError("; ".join(map(str, exc.problems))) from None
        state_file: Path | str = where.path if where.path is not None else str(where.url)
        unknown = set(options) - {f for f in cls.__dataclass_fields__ if f not in ("recipes", "state_path")}
        if unknown:
            raise SettingsError(f"unknown webhook settings: {', '.join(sorted(unknown))}")
        return cls(recipes=hooks, state_path=state_file, **options)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebhookSettings:
        """Settings from ``COPROD_RECIPES``, ``COPROD_STATE``, ``COPROD_WEBHOOK_WORKER``,
        ``COPROD_WEBHOOK_FSYNC`` and ``COPROD_WORKER_HOLD`` (the environment first, then ``.env``)."""
        from coprod.config import RecipeInvalid, load_env, path_list

        try:
            merged = load_env(Path.cwd(), env)
        except RecipeInvalid as exc:
            raise SettingsError("; ".join(map(str, exc.problems))) from None
        recipes = merged.get("COPROD_RECIPES", "recipes")
        fsync = merged.get("COPROD_WEBHOOK_FSYNC", "").strip().lower()
        if fsync not in ON | OFF:
            # a typo taken as off would drop the promise that each receipt reached the disk unseen
            raise SettingsError(
                f"COPROD_WEBHOOK_FSYNC must be 1 (every receipt waits for the disk) or 0 (the default), "
                f"not {fsync!r}"
            )
        worker = merged.get("COPROD_WEBHOOK_WORKER", "thread").strip().lower()
        if worker not in ("thread", "off"):
            raise SettingsError("COPROD_WEBHOOK_WORKER must be 'thread' or 'off'")
        hold = merged.get("COPROD_WORKER_HOLD", "").strip() or str(HOLD)  # set but empty: the default
        if not re.fullmatch(r"[0-9]+", hold):
            raise SettingsError(
                f"COPROD_WORKER_HOLD must be a whole number of recipes a worker holds in memory, "
                f"0 or more (default {HOLD}), not {hold!r}"
            )
        data: dict[str, Any] = {
            "recipes": path_list(recipes),  # as coprod status reads it
            "env": env,
            "worker_thread": worker == "thread",
            "fsync_each_receipt": fsync in ON,
            "worker_hold": int(hold),
        }
        if merged.get("COPROD_STATE"):
            data["state_path"] = merged["COPROD_STATE"]
        return cls.from_mapping(data)


def coerce_settings(settings: WebhookSettings | Mapping[str, Any] | None) -> WebhookSettings:
    if settings is None:
        return WebhookSettings.from_env()
    if isinstance(settings, WebhookSettings):
        return settings
    return WebhookSettings.from_mapping(settings)


def load_hooks(
    recipes: str | Path | Mapping[str, str | Path] | list[str | Path], env: Mapping[str, str] | None
) -> dict[str, RecipeHook]:
    """Read each recipe's name and ``[webhook]`` section. A broken recipe is reported and skipped."""
    from coprod.config import RecipeInvalid, recipe_files

    named: list[tuple[str | None, Path]] = []
    if isinstance(recipes, Mapping):
        named = [(name, Path(p).expanduser()) for name, p in recipes.items()]
    else:
        # a recipe file, a folder holding recipe.toml, or a folder of recipe folders: as `coprod sync`
        for entry in [recipes] if isinstance(recipes, (str, Path)) else recipes:
            named.extend((None, f) for f in recipe_files(entry))

    hooks: dict[str, RecipeHook] = {}
    for name, path in named:
        file = path / "recipe.toml" if path.is_dir() else path
        recipe = _read_recipe(file)
        if recipe is None or _still_the_example(file, recipe):
            continue
        try:
            hook = _hook(name or recipe.name, file, recipe, env)
        except RecipeInvalid as exc:  # its .env cannot be read: said by file and line, never content
            log.warning("recipe %s: %s; its webhooks are off", file, "; ".join(map(str, exc.problems)))
            continue
        if hook.name in hooks:
            log.warning("two recipes are named '%s'; %s is ignored", hook.name, file)
            continue
        hooks[hook.name] = hook
    return hooks


def _read_recipe(file: Path) -> Recipe | None:
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:  # a path COPROD_RECIPES names wrongly: said as such, not by an error's name
        log.warning(
            "no recipe at %s (COPROD_RECIPES names a recipe file, its folder or a folder of recipe "
            "folders); its webhooks are off",
            file,
        )
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.warning("recipe %s cannot be read (%s); its webhooks are off", file, type(exc).__name__)
        return None
    recipe, problems = parse_recipe(data, str(file))
    if recipe is None:
        log.warning(
            "recipe %s has %d problem(s) (run 'coprod check' on it); its webhooks are off",
            file,
            len(problems),
        )
    return recipe


def _still_the_example(file: Path, recipe: Recipe) -> bool:
    """Whether a platform's setting is still the example recipe's, said once at start: every
    re-check would stop before any request (coprod.sync.refuse_platform_examples), and its
    deliveries wait in the inbox failing one after another, each saying only that again."""
    from coprod.placeholders import examples_refused, platforms_read, sent_examples

    left = sent_examples(recipe)
    if left:
        said = examples_refused(
            file,
            recipe.name,
            platforms_read(recipe),
            left,
            stopped="so its re-checks would send nothing to",
            then="then start the webhook app again",
        )
        log.warning(
            "recipe %s %s; its webhooks are off", said[0], " ".join(line.strip() for line in said[1:])
        )
    return bool(left)


def _hook(name: str, file: Path, recipe: Recipe, env: Mapping[str, str] | None) -> RecipeHook:
    from coprod.config import load_env

    spec = recipe.webhook
    values = load_env(file.parent, env)
    kobo_env, kobo_header = _kobo_hook_options(name, recipe) or (spec.secret_env, spec.header)

    def secret(variable: str | None) -> str | None:
        value = values.get(variable, "").strip() if variable else ""
        if variable and not value:
            log.warning("recipe %s: %s is not set, so webhooks using it are refused", name, variable)
        return value or None

    signing = secret(spec.secret_env)
    return RecipeHook(
        name=name,
        path=file,
        header=spec.header,
        secret_env=spec.secret_env,
        secret=signing,
        kobo_header=kobo_header,
        kobo_secret_env=kobo_env,
        kobo_secret=signing if kobo_env == spec.secret_env else secret(kobo_env),
    )


def _kobo_hook_options(name: str, recipe: Recipe) -> tuple[str, str] | None:
    """The secret variable and header a kobotoolbox source installs its REST Service with."""
    for source_name, source in recipe.sources.items():
        if source.connector != "kobotoolbox":
            continue
        try:
            from coprod.connectors.kobotoolbox import KoboOptions

            options = KoboOptions.model_validate(source.options)
        except (ImportError, ValidationError):
            log.warning(
                "recipe %s: [sources.%s] options are not valid; run 'coprod check'", name, source_name
            )
            return None
        return options.hook_secret_env, options.hook_header
    return None


def default_state_location(hooks: Mapping[str, RecipeHook], env: Mapping[str, str] | None) -> StoreLocation:
    """``COPROD_STATE``, else the state of the only recipe, else ``.coprod/state.sqlite`` here."""
    from coprod.config import LoadedRecipe, load_env
    from coprod.state import state_location

    merged = load_env(Path.cwd(), env)
    if merged.get("COPROD_STATE"):
        return parse_location(merged["COPROD_STATE"])
    if len(hooks) == 1:
        hook = next(iter(hooks.values()))
        recipe = _read_recipe(hook.path)
        if recipe is not None:
            loaded = LoadedRecipe(recipe=recipe, path=hook.path, dir=hook.path.parent, env=merged)
            return state_location(loaded)
    return StoreLocation("sqlite", path=Path.cwd() / ".coprod" / "state.sqlite")
