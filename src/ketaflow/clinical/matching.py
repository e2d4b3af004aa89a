"""Forgiving matching of what patients write ("klonopin 1mg", "Xanax XR", "lorazepam prn").

Text is lower-cased, doses and formulation words are dropped, and the remaining words are
compared with each rule's names: an exact word or phrase match first, then a small tolerance
for misspellings (a similarity ratio of at least 0.8 on words of five letters or more, the best
match only). A false match only adds a finding for the psychiatrist to review; a missed match
could hide an interaction, so the tolerance leans towards matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

FUZZY_MIN_RATIO = 0.8
FUZZY_MIN_LENGTH = 5

# Words that describe a dose, form or schedule rather than the drug.
_NOISE = frozenset(
    """
    xr er sr cr la xl odt ir dr ec cd prn tab tabs tablet tablets cap caps capsule capsules
    daily bid tid qid qd qhs hs qam qpm am pm mg mcg ug g ml units extended release immediate
    delayed oral po iv im injection inj as needed at night bedtime nightly once twice a day per
    weekly monthly patch solution liquid generic brand the and of for with take takes taking
    dose doses sometimes occasional occasionally about around only every morning evening x
    when sleep q
    """.split()
)
_DOSE = re.compile(r"^\d+(?:[.,]\d+)?(?:mg|mcg|ug|g|ml|%|x)?$")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def words(text: str) -> list[str]:
    """Return the meaningful words of ``text``: lower-case, without doses or formulation words."""
    out = []
    for token in _WORD.findall(text.lower()):
        if token in _NOISE or _DOSE.match(token):
            continue
        out.append(token)
    return out


@dataclass(frozen=True)
class Match:
    """One rule that a piece of text matched, and how."""

    key: str
    name: str
    exact: bool
    read_as: str  # the patient's word(s) that matched


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return any(list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


def match_text(text: str, table: Mapping[str, Iterable[str]]) -> list[Match]:
    """Return every rule key in ``table`` (key -> names) that ``text`` names.

    Exact word or phrase matches are returned for every key. When there is no exact match, the
    single closest misspelling at or above the similarity threshold is returned, if any.
    """
    found = words(text)
    if not found:
        return []
    exact: list[Match] = []
    for key, names in table.items():
        for name in names:
            name_words = words(name) or name.lower().split()
            if _contains(found, name_words):
                exact.append(Match(key, name, True, " ".join(name_words)))
                break
    if exact:
        return _drop_subphrases(exact)
    best: Match | None = None
    best_ratio = 0.0
    for key, names in table.items():
        for name in names:
            if " " in name.strip() or len(name) < FUZZY_MIN_LENGTH:
                continue
            for word in found:
                if len(word) < FUZZY_MIN_LENGTH:
                    continue
                ratio = SequenceMatcher(None, word, name.lower()).ratio()
                if ratio >= FUZZY_MIN_RATIO and ratio > best_ratio:
                    best, best_ratio = Match(key, name, False, word), ratio
    return [best] if best else []


def _drop_subphrases(matches: list[Match]) -> list[Match]:
    """Keep the most specific matches: drop a match whose phrase lies inside a longer one's."""
    keep = []
    for m in matches:
        inner = m.read_as.split()
        if any(
            o is not m and len(o.read_as.split()) > len(inner) and _contains(o.read_as.split(), inner)
            for o in matches
        ):
            continue
        keep.append(m)
    return keep
