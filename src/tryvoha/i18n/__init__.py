"""The page languages: Ukrainian (the default), English and French.

Each catalogue is a JSON file beside this module: flat keys to text, or, for counted
phrases, to an object of CLDR plural forms ("one", "few", "many", "other"). Placeholders
are {name}. Plural forms and the choice of language come from Babel (CLDR's rules); the
browser gets the same catalogue and picks forms with Intl.PluralRules, CLDR's as well.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson
from babel import Locale
from babel.core import negotiate_locale

LANGUAGES = ("uk", "en", "fr")
DEFAULT = "uk"
NAMES = {"uk": "Українська", "en": "English", "fr": "Français"}
SHORT = {"uk": "УКР", "en": "EN", "fr": "FR"}
COOKIE = "tryvoha_lang"

_RANGE = re.compile(r"^([a-zA-Z]{1,8})(?:-[a-zA-Z0-9]{1,8})*$")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


def plural_form(lang: str, n: int) -> str:
    """CLDR plural category of a whole number."""
    return str(_locale(lang).plural_form(abs(n)))


def parse_accept_language(header: str) -> list[str]:
    """The language tags of an Accept-Language header in order of preference, q=0 left
    out (RFC 9110 12.5.4; Babel matches them, it does not read headers)."""
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
            ranked.append((-q, index, tag.strip().lower().replace("-", "_")))  # EN-us too
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(accept_language: str | None, remembered: str | None = None) -> str:
    """The remembered choice if it is one we have, else Babel's best match for what the
    browser prefers (en-GB takes en), else Ukrainian."""
    if remembered in LANGUAGES:
        return remembered
    preferred = parse_accept_language(accept_language or "")
    found = negotiate_locale(preferred, list(LANGUAGES)) if preferred else None
    if found is None:  # a region-only match Babel leaves alone: fr-CA -> fr
        found = next(
            (t.split("_")[0].lower() for t in preferred if t.split("_")[0].lower() in LANGUAGES),
            None,
        )
    return found if found in LANGUAGES else DEFAULT


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
