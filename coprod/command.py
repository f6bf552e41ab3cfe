"""The ``coprod`` console command: :func:`coprod.cli.main`, started and ended as quickly as it can be.

Starting: importing coprod (pydantic, its models and coprod's own) makes a few hundred thousand
objects that live as long as the process, and Python's cycle collector would walk the young ones
every 700 allocations while they are made, finding nothing to free. So the collector waits while
``coprod.cli`` is imported, and what the import made is then set aside for good (``gc.freeze``:
modules, classes and functions), so that no later collection walks it either.

Annotations written as text (pydantic-core's schema types, pydantic's and coprod's models and named
tuples) become ``typing.ForwardRef`` objects as their classes are made, and each compiles its text:
937 compiles at every start for 255 different texts (``str`` 150 times, ``bool`` 139). While
``coprod.cli`` is imported, :mod:`typing` compiles each text once (:func:`texts_compiled_once`)
and the ForwardRefs of one text share the code, which is never changed: about 29 million
instructions fewer at every start.

Ending: a run's result holds the whole dataset it checked (a few hundred thousand rows, people and
flags at the benchmark's size); freeing it object by object when the command returns took about
2% of a ``coprod check``, for memory the operating system takes back at once anyway. So the
result is kept (:data:`coprod.cli.KEPT_TO_THE_END`) and, once what was printed is flushed and
logging shut down, the process ends with ``os._exit`` (as mypy ends its runs), unless a thread
other than this one is still running (it is then left to end as usual).

Plugins: pydantic hands every value it validates to the plugins installed in the same environment
(found through package metadata: ``pydantic`` entry points), and coprod validates flags, which name
people, and webhook deliveries, which are people's answers. A package installed for some other
purpose could so see personal data coprod holds. The command turns them off, with pydantic's own
documented switch, ``PYDANTIC_DISABLE_PLUGINS=__all__`` (:func:`keep_pydantic_plugins_out`), which
also spares each start a read of every installed package's entry points (about 2% of starting
``coprod`` with this project's 77 packages, more with more). The variable is set in the command's
own environment, which anything it starts inherits (under gunicorn, where the webhook app
validates deliveries and this command does not run, ``coprod.webhook_app.gunicorn_conf`` sets it
the same way); where it is already set, its value is left as it is: whoever set it chose which
plugins may run.

With every plugin off, pydantic still imports its plugin loader as it builds the first model's
validator, and the loader imports :mod:`importlib.metadata` (with ``email``, ``zipfile``,
``importlib.resources`` and more) only to read entry points it will not read: about 33 million
instructions of a ``coprod check`` at the benchmark's 1x size (0.4%). So the command puts a loader of its own in its place
(:func:`skip_plugin_search`), which answers as pydantic's does while the switch says every plugin
is off (no plugins), and hands over to pydantic's own should the switch say otherwise.

An application that imports ``coprod.cli`` and calls its ``main`` gets none of this: only this
command does this.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import sys
import threading
import types
from collections.abc import Iterable, Iterator, MutableMapping

PLUGINS_SWITCH = "PYDANTIC_DISABLE_PLUGINS"
"""pydantic's environment variable: ``__all__`` turns every plugin off, a list of names those."""


def keep_pydantic_plugins_out(environ: MutableMapping[str, str]) -> None:
    """No pydantic plugin sees what coprod validates (see above), unless ``PYDANTIC_DISABLE_PLUGINS``
    is already set: then it says which may run. Before the first model is built, which reads it."""
    environ.setdefault(PLUGINS_SWITCH, "__all__")


PLUGIN_LOADER = "pydantic.plugin._loader"
"""The module pydantic imports its plugins through: ``get_plugins`` is what it asks of it."""

ALL_OFF = ("__all__", "1", "true")
"""The switch's values that turn every plugin off: pydantic's loader returns none for them, without
reading any package's metadata."""


def skip_plugin_search() -> None:
    """While every plugin is off, pydantic asks for its plugins without importing the loader that
    would read entry points it then ignores (see above). Nothing changes if pydantic imported its
    own loader already, or if the switch does not turn them all off."""
    if os.environ.get(PLUGINS_SWITCH) not in ALL_OFF or PLUGIN_LOADER in sys.modules:
        return
    loader = types.ModuleType(PLUGIN_LOADER, "coprod's stand-in: no plugin while every one is off")
    loader.get_plugins = _no_plugins  # type: ignore[attr-defined]
    sys.modules[PLUGIN_LOADER] = loader


def _no_plugins() -> Iterable[object]:
    """pydantic's ``get_plugins`` as it answers while the switch turns every plugin off; read at
    each call, as pydantic's is, so a switch changed later gets pydantic's own loader's answer."""
    if os.environ.get(PLUGINS_SWITCH) in ALL_OFF:
        return ()
    del sys.modules[PLUGIN_LOADER]
    own = importlib.import_module(PLUGIN_LOADER)
    return own.get_plugins()


@contextlib.contextmanager
def texts_compiled_once() -> Iterator[None]:
    """While it lasts, :mod:`typing` compiles each annotation's text once (see above): a ``compile``
    of its own module's, which typing's ForwardRef calls (as ``compile(text, '<string>', 'eval')``)
    before the built-in, keeps what each text compiled to. Compiled as typing compiles it (no
    ``__future__`` flag of this module's); a text that does not compile raises as before, and is
    not kept. Nothing changes where typing already has a ``compile`` of its own."""
    import typing

    if hasattr(typing, "compile"):
        yield
        return
    compiled: dict[tuple[str, str, str], types.CodeType] = {}

    def compile_once(source: str, filename: str, mode: str) -> types.CodeType:
        key = (source, filename, mode)
        code = compiled.get(key)
        if code is None:
            code = compiled[key] = compile(source, filename, mode, dont_inherit=True)
        return code

    typing.compile = compile_once  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del typing.compile  # type: ignore[attr-defined]


def import_cli() -> None:
    """Import ``coprod.cli`` with the cycle collector paused and each annotation text compiled once,
    and freeze what the import made out of later collections, after :func:`skip_plugin_search`
    (see above); a benchmark that times the command's phases starts so too."""
    skip_plugin_search()
    collecting = gc.isenabled()
    gc.disable()
    try:
        with texts_compiled_once():
            import coprod.cli  # noqa: F401  (imported for what the import makes)
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


def main() -> int:
    keep_pydantic_plugins_out(os.environ)
    import_cli()
    import coprod.cli as cli  # imported above: this only names it

    cli.KEPT_TO_THE_END = []
    code = cli.main()
    if threading.active_count() == 1:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            # a reader that went away, or a stream already closed: nothing more can reach it
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    return code
