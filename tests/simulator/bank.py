"""Phrase banks: the words a simulated user types, one YAML file per language.

The simulator's engine never holds words: it asks the bank for "an answer of kind
``tumor_site`` meaning ``larynx``, as a relative would say it" and gets a Phrase (the
text, the template it came from, and whether it is a known gap of the normaliser). See
phrases/en.yaml for the format. Adding a language is adding ``phrases/<code>.yaml`` with
the same keys (and, if its numbers are spelt differently, a speller in NUMERALS).
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tests.files import load_yaml

PHRASES = Path(__file__).with_name("phrases")
REGISTERS = ("self", "other", "lay", "clinical")
PRONOUN_KEYS = ("he", "him", "his")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


# --- numbers in words, per language -----------------------------------------------------

_EN_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _en_words(n: int) -> str:
    if n < 20:
        return _EN_UNITS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _EN_TENS[tens] + (f"-{_EN_UNITS[unit]}" if unit else "")
    hundreds, rest = divmod(n, 100)
    return f"{_EN_UNITS[hundreds]} hundred" + (f" and {_en_words(rest)}" if rest else "")


def _zh_words(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n == 2:
        return "两"  # how 2 is said when counting (两个周期, 两次); 12, 20 keep 二
    if n < 10:
        return digits[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return ("" if tens == 1 else digits[tens]) + "十" + (digits[unit] if unit else "")
    hundreds, rest = divmod(n, 100)
    return digits[hundreds] + "百" + ("" if not rest else ("零" + digits[rest] if rest < 10 else _zh_words(rest)))


NUMERALS = {"en": _en_words, "zh": _zh_words}


# --- phrases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One template or term as written in the bank."""

    text: str
    gap: str | None = None
    sex: str | None = None  # only for a patient of this sex
    open: str | None = None  # the reader leaves the answer open for this reason (therapy.REASONS): the bot asks again


@dataclass
class Phrase:
    """A message the simulated user types, and where its words came from."""

    text: str
    kind: str
    key: str | None = None
    template: str = ""
    gaps: list[str] = field(default_factory=list)  # known normaliser gaps among the words used
    typo: str | None = None  # "filler" | "term" when a typo was put in
    terms: tuple[str, ...] = ()  # the bank terms put in the template
    open: str | None = None  # the template's ``open`` reason: an honest answer the bot must ask about

    def with_text(self, text: str, **changes) -> "Phrase":
        return Phrase(
            text,
            self.kind,
            self.key,
            self.template,
            list(self.gaps),
            changes.get("typo", self.typo),
            self.terms,
            self.open,
        )


def _entries(items: Any) -> list[Entry]:
    out = []
    for item in items or []:
        if isinstance(item, dict):
            out.append(Entry(str(item["text"]), item.get("gap"), item.get("sex"), item.get("open")))
        else:
            out.append(Entry(str(item)))
    return out


def _is_register_map(node: Any) -> bool:
    return isinstance(node, dict) and bool(node) and all(k in REGISTERS for k in node)


@dataclass
class Speaker:
    """Who is typing: a voice (patient / carer / nurse) and, for a relative, the patient's pronouns."""

    voice: str
    sex: str = "male"
    relative: str | None = None


class Bank:
    """One language's phrase bank."""

    def __init__(self, language: str = "en", path: Path | None = None):
        self.language = language
        self.path = path or PHRASES / f"{language}.yaml"
        data = load_yaml(self.path)
        if data.get("language") != language:
            raise ValueError(f"{self.path}: language is {data.get('language')!r}, expected {language!r}")
        self.data = data
        self.settings = data["settings"]
        self.voices: dict[str, dict[str, list[str]]] = data["voices"]
        self.answers: dict[str, dict] = data["answers"]
        self.typos = data.get("typos", {})
        self._numerals = NUMERALS[self.settings.get("numerals", language)]
        # Every term list in the bank by placeholder name (names are unique across kinds).
        self.terms: dict[str, Any] = {}
        for _kind, spec in self.answers.items():
            for name, node in (spec.get("terms") or {}).items():
                if name in self.terms:
                    raise ValueError(f"{self.path}: term list {name!r} is defined twice")
                self.terms[name] = node

    # --- what the bank knows -------------------------------------------------------------

    def has(self, kind: str) -> bool:
        return kind in self.answers

    def keys(self, kind: str) -> list[str]:
        """The value keys a kind has templates for (None-keyed kinds: [])."""
        templates = self.answers[kind].get("templates") or {}
        return [] if _is_register_map(templates) else [str(k) for k in templates]

    def term_keys(self, name: str) -> list[str]:
        node = self.terms[name]
        return [] if _is_register_map(node) else [str(k) for k in node]

    def is_question(self, text: str) -> bool:
        return any(mark in text for mark in self.settings.get("question_marks", ["?"]))

    def number_words(self, n: int) -> str:
        return self._numerals(int(n))

    # --- templates and terms -------------------------------------------------------------

    def for_voice(self, node: Any, voice: str, use: str = "templates", sex: str | None = None) -> list[Entry]:
        """Entries of a register map (or a plain list) that ``voice`` uses as ``use``
        ("templates" or "terms"), for a patient of ``sex``."""
        if isinstance(node, list):
            entries = _entries(node)
        elif isinstance(node, dict):
            entries = [e for r in self.voices[voice][use] for e in _entries(node.get(r))]
        else:
            entries = []
        return [e for e in entries if sex is None or e.sex in (None, sex)]

    def templates(self, kind: str, key: str | None, voice: str, sex: str | None = None) -> list[Entry]:
        node = self.answers[kind].get("templates") or {}
        if not _is_register_map(node):
            node = _lookup(node, key) or {}
        return self.for_voice(node, voice, "templates", sex)

    def term_entries(self, name: str, key: str | None, voice: str, sex: str | None = None) -> list[Entry]:
        node = self.terms[name]
        if not _is_register_map(node):
            node = _lookup(node, key)
            if node is None:
                return []
        return self.for_voice(node, voice, "terms", sex)

    # --- rendering -----------------------------------------------------------------------

    def context(self, speaker: Speaker) -> dict[str, str]:
        """The pronoun and relative placeholders for a speaker."""
        pronouns = self.data.get("pronouns", {}).get(speaker.sex, {})
        ctx = {k: pronouns.get(k, k) for k in PRONOUN_KEYS}
        ctx.update({k.capitalize(): v[:1].upper() + v[1:] for k, v in list(ctx.items())})
        relative = speaker.relative or ""
        ctx["rel"], ctx["Rel"] = relative, relative[:1].upper() + relative[1:]
        return ctx

    def placeholders(self, template: str) -> list[str]:
        return PLACEHOLDER.findall(template)

    def usable(self, template: str, values: dict[str, Any], voice: str, sex: str | None = None) -> bool:
        """True when every placeholder of ``template`` can be filled for this voice."""
        for name in self.placeholders(template):
            base = name[:1].lower() + name[1:]
            if base in PRONOUN_KEYS or name in ("rel", "Rel"):
                continue
            if name in ("n", "n_words", "cycles", "cycles_words"):
                if (values.get("n") if name.startswith("n") else values.get("cycles")) is None:
                    return False
                continue
            if isinstance(values.get(name), Text):
                continue
            if name not in self.terms:
                return False
            key = values.get(_binding(name))
            if not _is_register_map(self.terms[name]) and key is None:
                return False
            if not self.term_entries(name, None if key is None else str(key), voice, sex):
                return False
        return True

    def fill(self, template: Entry, values: dict[str, Any], speaker: Speaker, rng: random.Random) -> Phrase:
        """Fill one template: pronouns, numbers, and a random term for each term placeholder."""
        ctx = self.context(speaker)
        gaps = [template.gap] if template.gap else []
        used: list[str] = []

        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in ctx:
                return ctx[name]
            if name == "n":
                return str(values["n"])
            if name == "n_words":
                return self.number_words(values["n"])
            if name == "cycles":
                return str(values["cycles"])
            if name == "cycles_words":
                return self.number_words(values["cycles"])
            if isinstance(values.get(name), Text):
                gaps.extend(values[name].gaps)
                return values[name].text
            key = values.get(_binding(name))
            entries = self.term_entries(name, None if key is None else str(key), speaker.voice, speaker.sex)
            entry = rng.choice(entries)
            if entry.gap:
                gaps.append(entry.gap)
            rendered = PLACEHOLDER.sub(lambda m: ctx.get(m.group(1), m.group(0)), entry.text)
            used.append(rendered)
            return rendered

        text = PLACEHOLDER.sub(one, template.text)
        return Phrase(text=text, kind="", template=template.text, gaps=gaps, terms=tuple(used), open=template.open)

    def say(
        self,
        kind: str,
        key: str | None,
        speaker: Speaker,
        rng: random.Random,
        values: dict[str, Any] | None = None,
        clean: bool = False,
    ) -> Phrase | None:
        """A random phrasing of ``kind``/``key`` for this speaker, or None when the bank has none.

        ``values`` binds placeholders (``n``, ``cycles``, and term placeholders to their
        value key, e.g. ``{"site": "larynx"}``). ``clean`` leaves out known gaps (a
        person retyping an answer the bot did not take says it plainly).
        """
        values = dict(values or {})
        candidates = [
            t
            for t in self.templates(kind, key, speaker.voice, speaker.sex)
            if self.usable(t.text, values, speaker.voice, speaker.sex)
        ]
        if clean:
            candidates = [t for t in candidates if not t.gap and not t.open] or candidates
        if not candidates:
            return None
        for _ in range(5):
            phrase = self.fill(rng.choice(candidates), values, speaker, rng)
            if not clean or not phrase.gaps:
                break
        phrase.kind, phrase.key = kind, key
        return phrase

    def enumerate(
        self, kind: str, key: str | None, speaker: Speaker, values: dict[str, Any] | None = None, limit: int = 5000
    ) -> Iterator[Phrase]:
        """Every distinct phrasing of ``kind``/``key`` for this speaker (templates x terms)."""
        values = dict(values or {})
        ctx = self.context(speaker)
        seen = set()
        for template in self.templates(kind, key, speaker.voice, speaker.sex):
            if not self.usable(template.text, values, speaker.voice, speaker.sex):
                continue
            names = [
                n
                for n in dict.fromkeys(self.placeholders(template.text))
                if n in self.terms and not isinstance(values.get(n), Text)
            ]
            choices = []
            for name in names:
                key_for = values.get(_binding(name))
                choices.append(
                    self.term_entries(name, None if key_for is None else str(key_for), speaker.voice, speaker.sex)
                )
            for combo in itertools.product(*choices):
                chosen = dict(zip(names, combo))
                gaps = [template.gap] if template.gap else []
                gaps += [e.gap for e in combo if e.gap]

                def one(match: re.Match) -> str:
                    name = match.group(1)
                    if name in chosen:
                        return PLACEHOLDER.sub(lambda m: ctx.get(m.group(1), m.group(0)), chosen[name].text)
                    if name in ctx:
                        return ctx[name]
                    if name == "n":
                        return str(values["n"])
                    if name == "n_words":
                        return self.number_words(values["n"])
                    if name == "cycles":
                        return str(values["cycles"])
                    if name == "cycles_words":
                        return self.number_words(values["cycles"])
                    if isinstance(values.get(name), Text):
                        return values[name].text
                    return match.group(0)

                text = PLACEHOLDER.sub(one, template.text)
                if text in seen:
                    continue
                seen.add(text)
                yield Phrase(
                    text,
                    kind,
                    key,
                    template.text,
                    [g for g in gaps if g],
                    None,
                    tuple(PLACEHOLDER.sub(lambda m: ctx.get(m.group(1), m.group(0)), e.text) for e in combo),
                    template.open,
                )
                if len(seen) >= limit:
                    return

    # --- perturbations -------------------------------------------------------------------

    def typo(
        self, text: str, rng: random.Random, prefer: str = "filler", terms: tuple[str, ...] = ()
    ) -> tuple[str, str | None]:
        """Put one typo in ``text``: in a filler word when there is one (``prefer``), else in a
        clinical term. A filler typo never falls inside one of the bank ``terms`` the text was
        made of ("back of the tongue" keeps its "the"). Returns the text and which kind of typo
        was made (None: no typo possible)."""
        kinds = {"filler": self.typos.get("filler", {}), "term": self.typos.get("terms", {})}
        protected = [(m.start(), m.end()) for term in terms if term for m in re.finditer(re.escape(term), text)]
        order = [prefer, "term" if prefer == "filler" else "filler"]
        for kind in order:
            hits = []
            for word, typo in kinds[kind].items():
                pattern = (
                    rf"(?<!\w){re.escape(word)}(?!\w)"
                    if self.settings.get("word_boundaries", True)
                    else re.escape(word)
                )
                for m in re.finditer(pattern, text):
                    if kind == "filler" and any(s <= m.start() < e for s, e in protected):
                        continue
                    hits.append((m.start(), m.end(), typo))
            if hits:
                start, end, typo = rng.choice(sorted(hits))
                return text[:start] + typo + text[end:], kind
        return text, None

    def lower(self, text: str) -> str:
        return text.lower() if self.settings.get("lower_case") else text


@dataclass(frozen=True)
class Text:
    """An already rendered phrase used as a placeholder's value (a clause inside a sentence)."""

    text: str
    gaps: tuple[str, ...] = ()


def _binding(name: str) -> str:
    """Which value a term placeholder is bound to: ``response_code`` shares ``response``'s."""
    return {"response_code": "response", "ecog_score": "ecog", "sex_word": "sex"}.get(name, name)


def _lookup(node: dict, key: str | None) -> Any:
    if key is None:
        return None
    for k, v in node.items():
        if str(k) == str(key):
            return v
    return None


@functools.lru_cache(maxsize=None)
def load(language: str = "en") -> Bank:
    return Bank(language)


def languages() -> list[str]:
    return sorted(p.stem for p in PHRASES.glob("*.yaml"))


__all__ = ["Bank", "Entry", "Phrase", "Speaker", "Text", "load", "languages"]
