"""Fixtures shared by the whole suite: a copy of the demo, and the state store's two engines.

``store_location`` runs a test once against SQLite (a file in the test's folder) and once against
PostgreSQL (a fresh database on a real server started for the session), so the state-store and
inbox suites prove both engines the same way.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from coprod.alongside import usable_processors
from fakes import ROOT
from fakes.postgres import PostgresMissing, PostgresServer

# Hypothesis times each example (200 ms by default, and a test whose example is slow once and fast on
# replay fails as "flaky") and fails a test whose data is slow to generate: both measure the
# machine, and the shared and CI machines are slow at moments. The properties are what the tests
# check; the explicit settings some tests give (more examples) still apply on top of this. With CI
# set (.ci/run sets it), Hypothesis starts from its own "ci" profile, which this builds on: the
# same examples on every run (derandomize) and no saved examples, so CI cannot pass once and fail
# the next time on the same code; a developer's runs keep drawing new examples.
settings.register_profile("coprod", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("coprod")

MAX_WORKERS = 4
"""`make test` runs the suite in parallel (pytest-xdist, ``-n auto --dist loadfile``), a test file
to a worker. Each worker starts its own PostgreSQL and imports the suite again, and the longest
files take a large share of the suite on their own, so workers past four shorten it little."""


def _workers_to_start() -> int:
    """How many workers ``-n auto`` starts: one per CPU this process may use (its affinity, and a
    container's quota), at most MAX_WORKERS; none (the tests run in this process, as without
    ``-n``) where only one CPU may be used, since a single worker only adds its start-up."""
    workers = min(usable_processors(), MAX_WORKERS)
    return workers if workers > 1 else 0


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``'s number of workers (pytest-xdist's own counts every CPU of the machine, and the
    physical ones only where psutil is installed); PYTEST_XDIST_AUTO_NUM_WORKERS still decides
    where it is set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return _workers_to_start()


@pytest.fixture(autouse=True)
def _rechecks_keep_no_store_past_the_test() -> Iterator[None]:
    """A worker keeps its re-checks' state store open (webhook_app/settings.py); a test's store
    (a temporary file, or a database dropped after the test) must not outlive the test."""
    yield
    from coprod.webhook_app.settings import close_kept_stores

    close_kept_stores()


@pytest.fixture
def quiet_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No variable or .env of the machine running the tests leaks in; the working folder is empty
    (``tmp_path / "work"``, returned)."""
    for name in list(os.environ):
        if name.startswith(("KOBO_", "CIVICRM_", "COPROD_", "GOOGLE_")):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the bundled demo (no state, no flags file), with its state beside it."""
    target = tmp_path / "demo"
    shutil.copytree(ROOT / "recipes" / "demo", target, ignore=shutil.ignore_patterns(".coprod", "coprod-*"))
    monkeypatch.delenv("COPROD_STATE", raising=False)
    return target


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One server for the session. Without PostgreSQL installed, a developer's machine skips the
    tests that need it, saying how to get it (as the browser test does without Chromium); in CI
    (``CI`` set, as .ci/run sets it) they fail: nothing is skipped there."""
    try:
        server = PostgresServer()
    except PostgresMissing as missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} (CI is set: nothing is skipped)", pytrace=False)
        pytest.skip(str(missing))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's state store lives: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def open_store() -> Iterator[Any]:
    """``open_store(location)``: StateStore.open, closed again when the test ends (a PostgreSQL
    store holds a connection pool, which must not outlive its database)."""
    from coprod.state import StateStore

    opened: list[StateStore] = []

    def _open(location: Any) -> StateStore:
        store = StateStore.open(location)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """Each test gets logging back as it found it: `coprod serve`/`worker` configure logging for
    their process (handlers on stderr, coprod's INFO lines on), which a test running them in
    this process must not leave behind for the CLI tests that check output stays quiet."""
    manager = logging.root.manager
    saved = {
        name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for name, logger in [("", logging.root), *manager.loggerDict.items()]
        if isinstance(logger, logging.Logger)
    }
    yield
    for name, logger in [("", logging.root), *manager.loggerDict.items()]:
        if not isinstance(logger, logging.Logger):
            continue
        level, handlers, propagate, disabled = saved.get(name, (logging.NOTSET, [], True, False))
        # Only a level that changed is set: setLevel empties every logger's cache of what it lets
        # through, so calling it on each of some hundred loggers after every test cost a hundred
        # times what one call does. The one call below empties the caches once, for all of them.
        if logger.level != level:
            logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.disabled = disabled
    logging.root.setLevel(logging.root.level)
    logging.captureWarnings(False)
