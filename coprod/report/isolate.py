"""The charity's own text in a report, shown as typed and kept from changing the words around it.

Two things go wrong with a name in a page of English. A right-to-left name (Arabic, Urdu, Persian,
Hebrew) lends its direction to what follows it: "سارة (ID 17)" or "مشروع: 3 people" comes out in a
jumbled order, because the browser's bidi algorithm treats the digits and brackets after the name
as part of it. And a stray right-to-left override (U+202E) or another invisible character in a
name reverses or hides the rest of the line.

So :mod:`~coprod.report.views` and :mod:`~coprod.report.easy_read` pass each piece of the charity's
text (a project name, a session title, a category, a person's name or id, a flag title) through
:func:`isolated` where they build a sentence (as do the consultation criteria's findings, for the
decisions and session titles they quote: ``Criterion.finding_isolated``, made in the pure core,
where :func:`~coprod_core.text.isolated` is defined): :func:`~coprod_core.text.visible` shows the invisible
characters (``<U+202E>``), and the piece is put between FIRST STRONG ISOLATE (U+2068) and POP
DIRECTIONAL ISOLATE (U+2069), Unicode's isolation for plain text. The marks are unforgeable: the
same characters typed in a name are shown by ``visible`` as ``<U+2068>``, so every mark in a
sentence is one :func:`isolated` put there. Each renderer then says the isolation its own way:

- HTML text (:func:`html`): escaped, then each marked piece becomes ``<bdi>...</bdi>``, the HTML
  element for "text of unknown direction" (direction from its first strong letter, isolated from
  its neighbours). Where markup cannot go (the page's ``<title>``, attributes, SVG ``<title>``,
  ``<desc>`` and ``<text>``), the two characters stay: browsers apply them the same way.
- Markdown and the summary tab (:func:`plain`): the marks are taken out, and the text is only
  ``visible``. Markdown has no isolation that every renderer honours (``<bdi>`` is raw HTML, which
  many renderers strip or escape), and the characters themselves would travel invisibly into the
  documents and spreadsheet cells the text is pasted into, where nobody can see or delete them:
  the very kind of character ``visible`` exists to show.

Nothing here touches what the state store or fingerprints hold: only the words of a page.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from coprod_core.text import FSI, PDI, isolated

__all__ = ["FSI", "PDI", "html", "isolated", "plain"]

_PIECE = re.compile(f"{FSI}([^{FSI}{PDI}]*){PDI}")
_MARKS = str.maketrans("", "", FSI + PDI)


def html(text: object) -> Markup:
    """``text`` escaped for HTML, each :func:`isolated` piece in ``<bdi>`` (a Jinja filter)."""
    escaped = str(escape(text))
    if FSI not in escaped:
        return Markup(escaped)
    return Markup(_PIECE.sub(r"<bdi>\1</bdi>", escaped))


def plain(text: str) -> str:
    """``text`` without the isolation marks (Markdown, spreadsheet cells)."""
    return text.translate(_MARKS) if FSI in text else text
