"""HTML rendering: Jinja2 templates shipped in the package, autoescaping always on.

Everything the charity typed (project names, session titles, decisions, category labels) is
untrusted text: Jinja escapes it in text and in attributes, and nothing is marked safe except
the project's own template markup. Each piece of that text is isolated from the words around it
(:mod:`~coprod.report.isolate`): the ``bdi`` filter escapes a sentence and puts each piece in
``<bdi>``; templates use it wherever a sentence is HTML text. The page is one file: CSS and SVG inline, no script, no font,
no image fetched from anywhere.
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from coprod.report import charts, isolate
from coprod.report.blocks import Page


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("coprod.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2", "css"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["bdi"] = isolate.html
    return env


def render_page(page: Page) -> str:
    return environment().get_template("report.html.j2").render(page=page, layout=charts)


def render_template(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
