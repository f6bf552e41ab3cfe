"""``coprod migrate`` and ``coprod state copy``: the state store's upkeep, for a data officer.

Where the state is comes from ``--state``, else ``COPROD_STATE`` (environment or ``.env``), else
the recipe given (its ``[state] path`` or ``.coprod/state.sqlite`` beside it). With SQLite the
webhook inbox is a second file beside the state file; with PostgreSQL both live in one database.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Protocol, TypeVar

from coprod.schema import Upgrade, latest
from coprod.state import (
    ELSEWHERE,
    STORE_PROBLEMS,
    StateLocationInvalid,
    StateStore,
    StoreLocation,
    parse_location,
)
from coprod_core.text import count


class Lines(Protocol):
    def line(self, text: str = "") -> None: ...


PROBLEMS = STORE_PROBLEMS

Parser = TypeVar("Parser", bound=argparse.ArgumentParser)
"""The class the command line's parsers are made of (``coprod.cli.CommandParser``)."""


def add_parsers(sub: argparse._SubParsersAction[Parser]) -> None:
    m = sub.add_parser("migrate", help="upgrade the state store's schema now (it also upgrades on start)")
    m.add_argument("recipe", nargs="?", help="a recipe whose state store to upgrade")
    m.add_argument("--state", help="the state store: a SQLite file or a postgresql://... address")
    m.set_defaults(func=cmd_migrate)

    st = sub.add_parser("state", help="the state store: copy it to another place or engine")
    st_sub = st.add_subparsers(dest="state_command", required=True)
    cp = st_sub.add_parser("copy", help="copy a state store (and its webhook inbox) into an empty one")
    cp.add_argument(
        "source",
        help="where the state is now: a SQLite file or a postgresql://... address (only read: nothing "
        "in it is changed or upgraded, and no file is made beside it)",
    )
    cp.add_argument("target", help="where it goes (empty): a SQLite file or a postgresql://... address")
    cp.set_defaults(func=cmd_state_copy)


def _location(args: argparse.Namespace) -> StoreLocation:
    from coprod.config import load_env, load_recipe
    from coprod.state import state_location

    if args.state:
        return parse_location(args.state)
    if args.recipe:
        return state_location(load_recipe(args.recipe))
    env = load_env(Path.cwd())
    if env.get("COPROD_STATE"):
        return parse_location(env["COPROD_STATE"])
    raise StateLocationInvalid("say which state store: give a recipe, --state, or set COPROD_STATE")


def _open_both(location: StoreLocation) -> tuple[StateStore, list[Upgrade | str]]:
    """The store, upgraded, and what was done. A SQLite inbox file that is not there is left so:
    only the webhook app uses one, and it makes its own at the current version when it starts."""
    from coprod.webhook_app.inbox import Inbox, inbox_location

    store = StateStore.open(location)
    at = inbox_location(location)
    if at.engine == "sqlite" and at.path is not None and not at.path.exists():
        return store, [*store.upgrades, f"inbox: none at {at.path} (the webhook app makes it when it starts)"]
    inbox = Inbox.open(at)
    try:
        return store, [*store.upgrades, *inbox.migrate()]
    finally:
        inbox.close()


def cmd_migrate(args: argparse.Namespace, output: Lines) -> int:
    say = output.line
    from coprod.config import EnvFileInvalid, RecipeInvalid

    try:
        location = _location(args)
        if location.engine == "sqlite" and location.path is not None and not location.path.is_file():
            # Made here, it would say "upgraded from version 0", as over a real November store.
            raise StateLocationInvalid(
                f"there is no state file at {location}: nothing to upgrade, and none was made (the first "
                f"sync makes it). If the recipe has been synced, {ELSEWHERE}: run coprod migrate from that "
                "folder, or name the store with --state"
            )
        store, upgrades = _open_both(location)
    except EnvFileInvalid as exc:  # file and line, never what is on it
        for problem in exc.problems:
            say(f"coprod: {problem}")
        return 2
    except RecipeInvalid as exc:
        say(
            f"coprod: the recipe has problems; run 'coprod validate {args.recipe}' ({len(exc.problems)} found)"
        )
        return 2
    except PROBLEMS as exc:
        say(f"coprod: {exc}")
        return int(exc.exit_code)
    store.close()
    say(f"state store at {location}:")
    for upgrade in upgrades:
        say(f"  {upgrade}")
    return 0


def cmd_state_copy(args: argparse.Namespace, output: Lines) -> int:
    """Copy flags (with the statuses staff set), cursors, row counts, meta, run history and the
    webhook inbox. The target must be empty, so nothing is merged or overwritten by mistake.

    The source is only read, as it is (:func:`coprod.state.open_source`,
    :func:`coprod.webhook_app.inbox.events_as_is`): not upgraded, and no file made beside it. It is
    often a backup the user may not write, and opening it as a sync does failed there ("attempt to
    write a readonly database"), after leaving an empty inbox file beside a source that had none."""
    say = output.line
    from coprod.state import open_source
    from coprod.webhook_app.inbox import Inbox, events_as_is, inbox_location

    try:
        source_at, target_at = parse_location(args.source), parse_location(args.target)
        if source_at == target_at:
            raise StateLocationInvalid("the source and the target are the same store")
        source = open_source(source_at)
    except PROBLEMS as exc:
        say(f"coprod: {exc}")
        return int(exc.exit_code)
    try:
        # The source is read whole before the target is opened: a source that cannot be read
        # leaves no target made or upgraded.
        tables, events = source.dump(), events_as_is(inbox_location(source_at))
    except PROBLEMS as exc:
        say(f"coprod: {exc}")
        return int(exc.exit_code)
    finally:
        source.close()
    try:
        target = StateStore.open(target_at)
    except PROBLEMS as exc:
        say(f"coprod: {exc}")
        return int(exc.exit_code)
    try:
        if not target.is_empty():
            say(f"coprod: the target {target_at} already holds state; copy only into an empty store")
            return 2
        target_inbox = Inbox.open(inbox_location(target_at))
        try:
            # Looked at before anything is written: a refusal after the state was copied left the
            # target holding it, so the next try said it "already holds state".
            if target_inbox.events():
                say(
                    f"coprod: the target's webhook inbox is not empty ({inbox_location(target_at)}): a webhook "
                    "app has received deliveries there already; nothing was copied. Copy only into an "
                    "empty store, with the app and its workers stopped"
                )
                return 2
            added = target.load(tables)
            added["webhook_inbox"] = target_inbox.load(events)
        finally:
            target_inbox.close()
    finally:
        target.close()
    read_as = (
        f" (schema version {source.read_as}, read as it is; it was not changed)"
        if source.read_as is not None and source.read_as < latest("state")
        else ""
    )
    say(f"copied {source_at}{read_as} into {target_at}:")
    for table, n in added.items():
        say(f"  {table:<14} {count(n, 'row')}")
    say("Point COPROD_STATE at the new store, and keep the old one until a sync has run.")
    return 0
