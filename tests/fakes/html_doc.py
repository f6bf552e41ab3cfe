"""Reading a report's HTML in tests: parsed by html5lib in strict mode (the WHATWG parsing rules),
so a page that a browser would have to repair fails the test instead of being repaired."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import html5lib

SVG = "{http://www.w3.org/2000/svg}"
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"


def parse(text: str) -> ET.Element:
    """The document's root; raises ``html5lib.html5parser.ParseError`` on any parse error."""
    parser = html5lib.HTMLParser(
        strict=True, tree=html5lib.getTreeBuilder("etree"), namespaceHTMLElements=False
    )
    return parser.parse(text)


def tag(el: ET.Element) -> str:
    return el.tag.replace(SVG, "svg:") if isinstance(el.tag, str) else ""


def all_text(root: ET.Element) -> str:
    """Everything a reader or an assistive technology can get at: text (style sheets aside) and the
    attributes that hold words or numbers (aria-*, title, alt, data-*)."""
    parts: list[str] = []
    for el in root.iter():
        if tag(el) == "style":
            if el.tail:
                parts.append(el.tail)
            continue
        parts.append(el.text or "")
        parts.extend(
            v for k, v in el.attrib.items() if k in ("title", "alt") or k.startswith(("aria-", "data-"))
        )
        parts.append(el.tail or "")
    return " ".join(parts)


def small_counts(text: str) -> list[str]:
    """Whole numbers from 1 to 7 standing alone (not part of an id, a date, a decimal or a bigger number),
    each with some context, after taking out dates written as reports write them ('3 March 2026')."""
    text = re.sub(rf"\b\d{{1,2}} (?:{MONTHS}) \d{{4}}\b", " ", text)
    found = []
    for m in re.finditer(r"(?<![\w.,])\d+(?:[.,]\d+)*(?![\w])", text):
        token = m.group(0)
        if "." in token:
            continue
        if 1 <= int(token.replace(",", "")) <= 7:
            found.append(text[max(0, m.start() - 50) : m.end() + 30])
    return found


def by_class(root: ET.Element, name: str, what: str = "svg:g") -> list[ET.Element]:
    return [el for el in root.iter() if tag(el) == what and name in el.get("class", "").split()]
