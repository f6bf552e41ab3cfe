"""The ``coprod`` console command: :func:`coprod.cli.main`, started and ended as quickly as it can be.

Starting: importing coprod (pydantic, its models and coprod's own) makes a few hundred thousand
objects that live as long as the process, and Python's cycle collector would walk the young ones
every 700 allocations while they are made, finding nothing to free. So the collector waits while
``coprod.cli`` is imported, and what the import made is then set aside for good (``gc.freeze``:
modules, classes and functions), so that no later collection walks it either.

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

With every plugin off, pydantic still imports its plugin loader (``pydantic.plugin._loader``) as
it builds the first model's validator, and the loader imports :mod:`importlib.metadata` (about 33
million instructions of a ``coprod check`` at the benchmark's 1x size, 0.4%). Putting a module of
coprod's own in the place of that private module was tried (7 December) and taken out: a pydantic
that moved or widened it would break every command, for 0.4% of a check.

An application that imports ``coprod.cli`` and calls its ``main`` gets none of this: only this
command does this.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import threading
from collections.abc import MutableMapping

PLUGINS_SWITCH = "PYDANTIC_DISABLE_PLUGINS"
"""pydantic's environment variable: ``__all__`` turns every plugin off, a list of names those."""


def keep_pydantic_plugins_out(environ: MutableMapping[str, str]) -> None:
    """No pydantic plugin sees what coprod validates (see above), unless ``PYDANTIC_DISABLE_PLUGINS``
    is already set: then it says which may run. Before the first model is built, which reads it."""
    environ.setdefault(PLUGINS_SWITCH, "__all__")


def import_cli() -> None:
    """Import ``coprod.cli`` with the cycle collector paused, and freeze what the import made out of
    later collections (see above); a benchmark that times the command's phases starts so too."""
    collecting = gc.isenabled()
    gc.disable()
    try:
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
