"""A run maps rows as they are read: one page of raw rows at a time, never the whole export.

At 200,000 attendance rows the raw rows took as much memory as the mapped dataset; a run that
read everything before mapping held both. These pin that the mapping takes each page's rows before
the next page is fetched, that entities are read in the order the mapping needs them (each after
what its rows refer to), and that what a run reports about the rows is unchanged by it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from coprod.config import load_recipe
from coprod.connectors.base import Connector, ConnectorContext, Page
from coprod.connectors.files import FilesConnector
from coprod.sync import ExitCode, run
from coprod_core.mapping import MAPPING_ORDER, map_dataset
from coprod_core.recipe import Entity, EntitySpec
from coprod_core.rows import Row

DEMO = Path(__file__).resolve().parent.parent / "recipes" / "demo"
DAY = date(2026, 11, 20)


class Watched(dict[str, Any]):
    """A row's values that note when the mapping first looks into them."""

    def __init__(self, values: dict[str, Any], seen: list[str], name: str) -> None:
        super().__init__(values)
        self.seen, self.name = seen, name

    def get(self, key: Any, default: Any = None) -> Any:
        if not self.seen or self.seen[-1] != f"mapped {self.name}":
            self.seen.append(f"mapped {self.name}")
        return super().get(key, default)


class Paged(Connector):
    """The demo's files, two rows a page, noting each page fetched and each page's rows mapped."""

    kind = "paged"

    def __init__(self, inner: FilesConnector, log: list[str]) -> None:
        super().__init__(inner.name, inner.options, inner.context)
        self.inner, self.log = inner, log

    def read(self, entity: Entity, spec: EntitySpec, cursor: str | None = None) -> Iterator[Page]:
        for page in self.inner.read(entity, spec, cursor):
            for start in range(0, len(page.rows), 2):
                name = f"{entity.value} {start // 2}"
                self.log.append(f"fetched {name}")
                rows = [
                    Row(r.ref, Watched(dict(r.values), self.log, name), r.key)
                    for r in page.rows[start : start + 2]
                ]
                yield Page(rows=rows, cursor=page.cursor)

    def read_staff_statuses(self):  # type: ignore[no-untyped-def]
        return self.inner.read_staff_statuses()

    def write_flags(self, changes):  # type: ignore[no-untyped-def]
        return self.inner.write_flags(changes)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns(".coprod", "coprod-flags.csv"))
    return target


def files(loaded: Any) -> FilesConnector:
    spec = loaded.recipe.sources["exports"]
    context = ConnectorContext(recipe=loaded.recipe, recipe_dir=loaded.dir, env={})
    return FilesConnector("exports", FilesConnector.Options.model_validate(spec.options), context)


def test_each_page_is_mapped_before_the_next_is_fetched(demo: Path) -> None:
    loaded = load_recipe(demo, env={})
    log: list[str] = []
    result = run(loaded, mode="check", run_date=DAY, connectors={"exports": Paged(files(loaded), log)})
    assert result.exit_code == ExitCode.OK, result.messages
    fetched = [line.removeprefix("fetched ") for line in log if line.startswith("fetched ")]
    assert len(fetched) > 20  # the demo's rows really came in many pages
    for name in fetched:
        # every page is looked into by the mapping straight after it is fetched, before the next
        assert log[log.index(f"fetched {name}") + 1] == f"mapped {name}"


def test_entities_are_read_in_the_order_the_mapping_needs_them(demo: Path) -> None:
    loaded = load_recipe(demo, env={})
    log: list[str] = []
    run(loaded, mode="check", run_date=DAY, connectors={"exports": Paged(files(loaded), log)})
    order = list(dict.fromkeys(line.split()[1] for line in log if line.startswith("fetched ")))
    assert order == [e.value for e in MAPPING_ORDER if e in loaded.recipe.entities]


def test_a_paged_run_finds_what_a_run_on_the_files_finds(demo: Path) -> None:
    loaded = load_recipe(demo, env={})
    plain = run(loaded, mode="check", run_date=DAY)
    paged = run(loaded, mode="check", run_date=DAY, connectors={"exports": Paged(files(loaded), [])})
    assert [f.fingerprint for f in paged.flags] == [f.fingerprint for f in plain.flags]
    assert {e: vars(c) for e, c in paged.counts.items()} == {e: vars(c) for e, c in plain.counts.items()}


def test_the_mapping_iterates_each_entity_once_and_counts_what_it_read(demo: Path) -> None:
    loaded = load_recipe(demo, env={})
    connector = files(loaded)
    taken: dict[Entity, int] = {}

    def once(entity: Entity, spec: EntitySpec) -> Iterator[Row]:
        assert entity not in taken, f"{entity.value} iterated twice"
        taken[entity] = 0
        for page in connector.read(entity, spec):
            for row in page.rows:
                taken[entity] += 1
                yield row

    mapped = map_dataset(loaded.recipe, {e: once(e, s) for e, s in loaded.recipe.entities.items()})
    assert {e: c.read for e, c in mapped.counts.items() if e in taken} == taken
    assert all(c.read == c.used + c.rejected for c in mapped.counts.values())
