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
_WORD = re.compile(r"[a-z0-9]+")  # hyphens and slashes split words: "dextroamphetamine-amphetamine"


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
    start: int = 0  # word span in the cleaned text
    end: int = 0
    similarity: float = 1.0


def _word_similarity(said: str, known: str) -> float:
    if said == known:
        return 1.0
    if len(said) < FUZZY_MIN_LENGTH or len(known) < FUZZY_MIN_LENGTH:
        return 0.0
    return SequenceMatcher(None, said, known).ratio()


def _find(found: Sequence[str], key: str, name: str) -> Match | None:
    """Return the best place where every word of ``name`` matches consecutive words of ``found``."""
    name_words = words(name) or name.lower().split()
    n = len(name_words)
    best: Match | None = None
    for i in range(len(found) - n + 1):
        sims = [_word_similarity(found[i + j], name_words[j]) for j in range(n)]
        if min(sims) < FUZZY_MIN_RATIO:
            continue
        sim = sum(sims) / n
        if best is None or sim > best.similarity:
            span = " ".join(found[i : i + n])
            best = Match(key, name, sim == 1.0, span, i, i + n, sim)
    return best


def match_text(text: str, table: Mapping[str, Iterable[str]]) -> list[Match]:
    """Return every rule key in ``table`` (key -> names) that ``text`` names.

    Each name matches when its words match consecutive words of the text, exactly or within
    the misspelling tolerance. Where several rules match the same words, exact matches win,
    then the closest spelling; a match lying inside a longer one ("hypertension" inside
    "uncontrolled hypertension") is dropped in favour of the more specific one.
    """
    found = words(text)
    if not found:
        return []
    candidates: list[Match] = []
    for key, names in table.items():
        hits = [m for m in (_find(found, key, name) for name in names) if m is not None]
        if hits:
            candidates.append(max(hits, key=lambda m: (m.exact, m.end - m.start, m.similarity)))
    by_span: dict[tuple[int, int], list[Match]] = {}
    for m in candidates:
        by_span.setdefault((m.start, m.end), []).append(m)
    kept: list[Match] = []
    for group in by_span.values():
        exact = [m for m in group if m.exact]
        kept += exact if exact else [max(group, key=lambda m: m.similarity)]
    return [
        m
        for m in kept
        if not any(
            o is not m and o.start <= m.start and m.end <= o.end and (o.end - o.start) > (m.end - m.start)
            for o in kept
        )
    ]
