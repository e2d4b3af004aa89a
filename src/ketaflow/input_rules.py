"""What a typed value may be before any layer uses it: names, and the dates of visits. Pure.

The web app refuses, for every request at once, what no field can hold (control characters,
broken characters, JSON too deep, numbers too large: `ketaflow.web.nul_guard`); this module holds
the rules of particular kinds of field, for the services, the CLI and the page forms alike.

Names (OWASP ASVS 4.0.3 V5.1.4, "structured data is strongly typed and validated"; Unicode
TR #36 "Unicode Security Considerations" and UTS #39 "Unicode Security Mechanisms" on spoofing):
- NFKC normalisation first: full-width letters, ligatures and other compatibility forms become
  the ordinary letters a person reads (so "Ａｎｎａ" is stored and compared as "Anna");
- refused: invisible characters (Unicode category Cf: right-to-left overrides and isolates,
  zero-width spaces and joiners, soft hyphens), controls, unassigned and private-use code points;
- refused: letters of look-alike alphabets mixed in one name (Latin with Cyrillic or Greek: a
  Cyrillic "а" in "Anna" looks the same and would make a second "Anna"), per UTS #39's
  single-script rule; a name written wholly in one of them is kept.

E-mail addresses (staff accounts; one rule for storing, the duplicate check and signing in):
NFKC first (full-width letters become ordinary ones), spaces around trimmed, letter case folded
to lower case (every address is compared that way, as mail providers do); refused: any space,
control, invisible or unassigned character inside, look-alike alphabets mixed in the part before
the "@", a domain without a dot or with an empty or over-long label (RFC 1035: 63 octets), and
over 254 characters (RFC 5321). An international domain name is kept in its ASCII (Punycode)
form, IDNA 2008 with the UTS #46 mapping (the `idna` package): "Bücher.example" is stored,
compared and shown as "xn--bcher-kva.example", which also makes a look-alike domain visible.

Visit dates: a date that means a visit (a booking, a week of the schedule, a time charted at the
chair) must fall in the years 1900 to 2200; outside them the calendar arithmetic of the clinic's
time zone runs off its ends (years 1 and 9999) and nothing real happens there.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime

from ketaflow.errors import InvalidInput, invalid

VISIT_YEARS = (1900, 2200)
# Categories no name holds: controls, invisible format characters, surrogates, private use,
# unassigned, line and paragraph separators.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# Alphabets whose letters look alike; a name may use only one of them.
_LOOK_ALIKE_SCRIPTS = {"LATIN", "CYRILLIC", "GREEK"}


def person_name(value: str | None, field: str, label: str, *, max_length: int) -> str:
    """A person's name as typed, normalised (NFKC, single spaces); refuses spoofing characters.

    Empty stays empty (the caller says whether the name is required)."""
    text = unicodedata.normalize("NFKC", value or "")
    text = re.sub(r"\s+", " ", text).strip()
    hidden = sorted({ch for ch in text if unicodedata.category(ch) in _REFUSED_CATEGORIES})
    if hidden:
        shown = ", ".join(f"U+{ord(ch):04X}" for ch in hidden[:3])
        raise invalid(
            field,
            f"The {label} contains a hidden or invisible character ({shown}) that no name has; "
            "retype it rather than pasting it.",
        )
    scripts = sorted({_script(ch) for ch in text if ch.isalpha()} & _LOOK_ALIKE_SCRIPTS)
    if len(scripts) > 1:
        alphabets = " and ".join(s.title() for s in scripts)
        raise invalid(
            field, f"The {label} mixes letters of alphabets that look alike ({alphabets}); use one alphabet."
        )
    if len(text) > max_length:
        raise invalid(field, f"The {label} is longer than {max_length} characters; shorten it.")
    return text


EMAIL_MAX = 254  # RFC 5321 section 4.5.3.1.3: a path holds at most 256 octets with its brackets
_LOCAL_MAX = 64  # RFC 5321 section 4.5.3.1.1
_LABEL_MAX = 63  # RFC 1035 section 2.3.4
_ASCII_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")
_EMAIL_HINT = "Give the person's e-mail address, like name@clinic.org"


def email_address(value: str | None, field: str = "email") -> str:
    """An e-mail address in its one normal form (see the module's notes), or InvalidInput."""
    text = unicodedata.normalize("NFKC", value or "").strip()
    odd = sorted({ch for ch in text if ch.isspace() or unicodedata.category(ch) in _REFUSED_CATEGORIES})
    if odd:
        shown = ", ".join(f"U+{ord(ch):04X}" for ch in odd[:3])
        raise invalid(
            field, f"The e-mail address contains a space or an invisible character ({shown}); retype it."
        )
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain:
        raise invalid(field, f"{_EMAIL_HINT}.")
    if len(local) > _LOCAL_MAX:
        raise invalid(field, f"The part before the @ has at most {_LOCAL_MAX} characters.")
    scripts = sorted({_script(ch) for ch in local if ch.isalpha()} & _LOOK_ALIKE_SCRIPTS)
    if len(scripts) > 1:
        alphabets = " and ".join(s.title() for s in scripts)
        raise invalid(field, f"The e-mail address mixes letters of alphabets that look alike ({alphabets}).")
    address = f"{local.lower()}@{_ascii_domain(domain.rstrip('.'), field)}"
    if len(address) > EMAIL_MAX:
        raise invalid(field, f"An e-mail address has at most {EMAIL_MAX} characters.")
    return address


def _ascii_domain(domain: str, field: str) -> str:
    if not domain.isascii():
        import idna  # imported here: its tables are large and most addresses are ASCII

        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise invalid(field, f"{_EMAIL_HINT}: the part after the @ is not a domain name.") from None
    labels = domain.lower().split(".")
    if len(labels) < 2 or not all(len(label) <= _LABEL_MAX and _ASCII_LABEL.match(label) for label in labels):
        raise invalid(field, f"{_EMAIL_HINT}: the part after the @ is not a domain name.")
    return ".".join(labels)


def email_lookup_key(value: str | None) -> str:
    """The form to look an account up by (signing in, the command line): the address's normal
    form, or, for text no account can have, the same text trimmed and lower-cased (so it is
    answered, throttled and audited like any other unknown address)."""
    try:
        return email_address(value)
    except InvalidInput:
        return unicodedata.normalize("NFKC", value or "").strip().lower()


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else ""


def visit_day(value: date, field: str, label: str) -> date:
    """A day that means a visit: refused outside the years 1900 to 2200."""
    first, last = VISIT_YEARS
    if not first <= value.year <= last:
        raise invalid(
            field,
            f"{label}: {value.isoformat()} is outside the years {first} to {last} that the clinic's "
            "calendar holds; check the year.",
        )
    return value


def visit_time(value: datetime, field: str, label: str) -> datetime:
    """A moment that means a visit (with its UTC offset), in UTC; refused outside 1900 to 2200.

    A time at the ends of the calendar with an odd offset (9999-12-31 23:59 at -23:59) has no
    UTC instant at all; it is refused like any other year out of range."""
    first, last = VISIT_YEARS
    try:
        in_utc = value.astimezone(UTC) if value.tzinfo else value
    except OverflowError:
        in_utc = None
    if in_utc is None or not first <= in_utc.year <= last:
        raise invalid(
            field,
            f"{label}: {value.isoformat()} is outside the years {first} to {last} that the clinic's "
            "calendar holds; check the date.",
        )
    return in_utc if value.tzinfo else value
