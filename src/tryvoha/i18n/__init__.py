"""The page languages: Ukrainian (the default), English and French.

Each catalogue is a JSON file beside this module: flat keys to text, or, for counted
phrases, to an object of CLDR plural forms ("one", "few", "many", "other"). Placeholders
are {name}. The browser gets the same catalogue and picks forms with Intl.PluralRules,
so the rules below agree with CLDR for whole numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson

LANGUAGES = ("uk", "en", "fr")
DEFAULT = "uk"
NAMES = {"uk": "Українська", "en": "English", "fr": "Français"}
SHORT = {"uk": "УКР", "en": "EN", "fr": "FR"}
COOKIE = "tryvoha_lang"

_RANGE = re.compile(r"^([a-zA-Z]{1,8})(?:-[a-zA-Z0-9]{1,8})*$")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def plural_form(lang: str, n: int) -> str:
    """CLDR plural category of a whole number."""
    n = abs(n)
    if lang == "uk":
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    if lang == "fr":
        return "one" if n in (0, 1) else "many" if n != 0 and n % 1_000_000 == 0 else "other"
    return "one" if n == 1 else "other"


def parse_accept_language(header: str) -> list[str]:
    """Primary language subtags in order of preference (q=0 left out)."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        match = _RANGE.match(tag.strip())
        if not match:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            ranked.append((-q, index, match.group(1).lower()))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(accept_language: str | None, remembered: str | None = None) -> str:
    """The remembered choice if it is one we have, else the best match, else Ukrainian."""
    if remembered in LANGUAGES:
        return remembered
    for tag in parse_accept_language(accept_language or ""):
        if tag in LANGUAGES:
            return tag
    return DEFAULT


@dataclass(frozen=True, slots=True)
class Catalogue:
    lang: str
    messages: Mapping[str, Any]

    def __call__(self, key: str, /, **params: object) -> str:
        return self.text(key, **params)

    def text(self, key: str, /, **params: object) -> str:
        entry = self.messages.get(key)
        if entry is None:
            return key  # a missing key shows itself; a test keeps the catalogues complete
        if isinstance(entry, dict):
            count = params.get("n", 0)
            form = plural_form(self.lang, count if isinstance(count, int) else 0)
            entry = entry.get(form, entry["other"])
        return _PLACEHOLDER.sub(lambda m: str(params.get(m.group(1), m.group(0))), str(entry))

    def subset(self, prefixes: tuple[str, ...]) -> dict[str, Any]:
        """The keys the browser needs, to send with a page."""
        return {k: v for k, v in self.messages.items() if k.startswith(prefixes)}


@cache
def catalogue(lang: str) -> Catalogue:
    if lang not in LANGUAGES:
        raise ValueError(f"no catalogue for language '{lang}'")
    raw = resources.files(__package__).joinpath(f"{lang}.json").read_bytes()
    return Catalogue(lang, orjson.loads(raw))
