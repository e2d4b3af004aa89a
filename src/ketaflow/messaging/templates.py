"""Render a message of one kind (templates.toml) as subject, preview, plain text and HTML.

The HTML is made from the same body as the text: each paragraph a <p>, each line break a <br>,
every value escaped, links as <a>, the preparation list as <ul>. Pure: the caller gives the
clinic, the patient's given name and the links.
"""

from __future__ import annotations

import html
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from string import Template

from ketaflow.clinical.preparation import Statement, preparation

PATIENT, STAFF = "patient", "staff"
LINK_FIELDS = ("portal_link", "confirm_link", "staff_link")


@dataclass(frozen=True)
class Kind:
    name: str
    audience: str  # patient or staff
    opt_out: bool  # a patient may turn it off
    subject: str
    preview: str
    body: str


@dataclass(frozen=True)
class ClinicCard:
    name: str
    address: str  # one line: street, city, region, postal code
    phone: str


@dataclass(frozen=True)
class Values:
    clinic: ClinicCard
    given_name: str = ""
    visit_when: str = ""
    portal_link: str = ""
    confirm_link: str = ""
    staff_link: str = ""
    escalate_minutes: int = 0
    preparation: Sequence[Statement] = field(default_factory=tuple)


@dataclass(frozen=True)
class Rendered:
    subject: str
    preview: str
    text: str
    html: str


@cache
def kinds() -> dict[str, Kind]:
    data = tomllib.loads((Path(__file__).parent / "templates.toml").read_text(encoding="utf-8"))
    return {
        name: Kind(name, k["audience"], bool(k["opt_out"]), k["subject"], k["preview"], k["body"].strip())
        for name, k in data["kinds"].items()
    }


def kind(name: str) -> Kind:
    try:
        return kinds()[name]
    except KeyError:
        raise ValueError(f"No message template for {name!r}; kinds: {', '.join(sorted(kinds()))}.") from None


def message_preparation() -> tuple[Statement, ...]:
    """The preparation statements the messages carry (the page-only ones left out)."""
    return tuple(s for s in preparation() if s.in_messages)


def _plain(values: Values) -> dict[str, str]:
    c = values.clinic
    return {
        "clinic_name": c.name,
        "clinic_address": c.address,
        "clinic_phone": c.phone,
        "given_name": values.given_name,
        "visit_when": values.visit_when,
        "portal_link": values.portal_link,
        "confirm_link": values.confirm_link,
        "staff_link": values.staff_link,
        "escalate_minutes": str(values.escalate_minutes),
    }


def render(name: str, values: Values) -> Rendered:
    """The message of kind `name` filled with `values`; a placeholder left unfilled is an error."""
    k = kind(name)
    plain = _plain(values)
    prep_text = "\n".join(f"- {s.heading}: {s.text}" for s in values.preparation)
    text = Template(k.body).substitute(plain, preparation=prep_text)
    subject = _one_line(Template(k.subject).substitute(plain))
    preview = _one_line(Template(k.preview).substitute(plain))
    escaped = {key: html.escape(v) for key, v in plain.items()}
    for key in LINK_FIELDS:
        if plain[key]:
            escaped[key] = f'<a href="{html.escape(plain[key], quote=True)}">{html.escape(plain[key])}</a>'
    prep_html = (
        "<ul>"
        + "".join(
            f"<li><strong>{html.escape(s.heading)}</strong>: {html.escape(s.text)}</li>"
            for s in values.preparation
        )
        + "</ul>"
    )
    marker = "\x00PREPARATION\x00"
    body = Template(html.escape(k.body, quote=False)).substitute(escaped, preparation=marker)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    parts = []
    for p in paragraphs:
        pieces = [piece.strip() for piece in p.split(marker)]  # a list may not sit inside a <p>
        for i, piece in enumerate(pieces):
            if i:
                parts.append(prep_html)
            if piece:
                parts.append("<p>" + piece.replace("\n", "<br>\n") + "</p>")
    page = (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head><body>\n"
        # The preview: hidden text a mail app shows beside the subject.
        f'<div style="display:none">{html.escape(preview)}</div>\n' + "\n".join(parts) + "\n</body></html>\n"
    )
    return Rendered(subject, preview, text.strip() + "\n", page)


def _one_line(text: str) -> str:
    return " ".join(text.split())
