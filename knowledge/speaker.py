"""Who a screening is about: the person typing, or a relative they care for.

"my dad has laryngeal cancer, stage 4a, he is 66" is about the father: from
then on the questions say "he" / "his" / "him" (or "the patient" when the
words give no sex). The words are data (vocabulary/people.yaml); this module
only finds them. Nothing here imports Rasa: the dialogue calls ``about(text)``
on every message.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from . import vocab

SUBJECTS = ("he", "she", "they")


@dataclass(frozen=True)
class Subject:
    """Someone else is the patient: how to refer to them."""

    code: str  # "he" | "she" | "they"

    @property
    def wording(self) -> dict[str, str]:
        """{"pronoun": "he", "possessive": "his", "object": "him"} (or "the patient" forms)."""
        return dict(vocab.load("people")["wording"][self.code])

    def wording_in(self, language: str | None) -> dict[str, str]:
        """The wording in ``language`` ("他" / "他的" / "他" in Chinese)."""
        return wording(self.code, language)


def wording(code: str | None, language: str | None = "en") -> dict[str, str]:
    """How the questions name the patient ``code`` (he / she / they) in ``language``."""
    people = vocab.load("people")
    table = people.get(f"wording_{language}") if language and language != "en" else None
    return dict((table or people["wording"])[code or "they"])


@functools.lru_cache(maxsize=1)
def _relative_regex() -> re.Pattern:
    data = vocab.load("people")
    owners = "|".join(vocab.term_regex(p) for p in sorted(data["possessives"], key=len, reverse=True))
    words = [(w, code) for code, terms in data["relatives"].items() for w in terms]
    alternatives = "|".join(
        f"(?P<{code}_{i}>{vocab.term_regex(w)})" for i, (w, code) in enumerate(sorted(words, key=lambda p: -len(p[0])))
    )
    return re.compile(rf"(?:{owners})\s+(?:{alternatives})", re.I)


def relative(text: str) -> Subject | None:
    """The relative the message names as "my ..." ("my dad", "for my wife"), or None."""
    m = _relative_regex().search(vocab.prepare(text))
    if m is None:
        return None
    group = next(name for name, value in m.groupdict().items() if value)
    return Subject(group.split("_")[0])


def says_clinician(text: str) -> bool:
    """True when the message says the person typing is a clinician ("research nurse here",
    "I'm a doctor screening a patient", "我是研究护士"): a ``clinicians`` word of people.yaml
    not right after "my" / "our" ("my doctor said": someone else)."""
    pairs = [(str(w), True) for w in vocab.load("people")["clinicians"]]
    for start, _, matched, _ in vocab.find_terms(text, pairs):
        before = text[:start].rstrip().lower()
        if matched.lower().startswith(("my ", "我的")) or not before.endswith(("my", "our", "我的", "我们的")):
            return True
    return False


def someone_else(text: str) -> bool:
    """True when the message says the screening is for another person without naming them."""
    return vocab.mentions(text, vocab.load("people")["someone_else"])


def pronoun_sex(text: str) -> str | None:
    """ "he" or "she" when the message refers to the patient with a third-person pronoun only of one sex."""
    found = {
        code
        for *_, code in vocab.find_terms(
            text, [(w, code) for code, words in vocab.load("people")["pronouns"].items() for w in words]
        )
    }
    return found.pop() if len(found) == 1 else None


def about(text: str, current: str | None = None) -> Subject | None:
    """Who this message says the patient is, given who we thought (``current``).

    A named relative wins ("my mum"); "for someone else" makes it "the patient"
    unless we already know more; once someone else is the patient, "he is 66"
    settles an unknown sex. None when the message says nothing new.
    """
    named = relative(text)
    if named is not None:
        return None if named.code == current else named
    if current is None and someone_else(text):
        return Subject("they")
    if current == "they":
        sex = pronoun_sex(text)
        if sex is not None:
            return Subject(sex)
    return None
