"""Reading a page's forms as a screen reader would: which fields are marked invalid, which message
each names with aria-describedby, and which field takes the focus (autofocus) when the page loads."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"input", "br", "img", "meta", "link", "hr", "wbr", "source", "col", "area", "base", "embed"}
FIELDS = {"input", "select", "textarea"}


@dataclass
class Field:
    form: str  # the form's action
    name: str
    attrs: dict[str, str]


@dataclass
class Page(HTMLParser):
    fields: list[Field] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # element id -> its text
    autofocus: list[str] = field(default_factory=list)  # "name" of fields, "#id" of other elements

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._form = ""
        self._open: list[tuple[str, str | None]] = []  # (tag, id) of the open elements

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = a.get("action", "")
        if tag in FIELDS and "name" in a:
            self.fields.append(Field(self._form, a["name"], a))
        if "autofocus" in a:
            self.autofocus.append(a["name"] if tag in FIELDS else f"#{a.get('id', '')}")
        if tag not in VOID:
            self._open.append((tag, a.get("id")))
            if a.get("id"):
                self.texts[a["id"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = ""
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.texts[element_id] += data

    def field(self, action_end: str, name: str) -> Field:
        found = [f for f in self.fields if f.form.endswith(action_end) and f.name == name]
        # A radio group is one field: its first button carries the group's marks.
        if len(found) > 1 and all(f.attrs.get("type") == "radio" for f in found):
            found = found[:1]
        assert len(found) == 1, (action_end, name, [(f.form, f.name) for f in self.fields])
        return found[0]

    def invalid(self, action_end: str) -> dict[str, str]:
        """The fields of the form posting to `...action_end` marked invalid, each with the text of the
        message its aria-describedby names."""
        out: dict[str, str] = {}
        for f in self.fields:
            if f.form.endswith(action_end) and f.attrs.get("aria-invalid") == "true":
                ids = f.attrs.get("aria-describedby", "").split()
                assert ids, f"{f.name} is marked invalid but names no message"
                assert all(i in self.texts for i in ids), (f.name, ids)
                out[f.name] = " ".join(" ".join(self.texts[i].split()) for i in ids)
        return out


def read_page(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page
