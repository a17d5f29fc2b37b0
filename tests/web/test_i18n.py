"""Languages: negotiation, plural forms, and catalogues that stay complete."""

from __future__ import annotations

import re

import pytest

from tryvoha import i18n


@pytest.mark.parametrize(
    ("header", "cookie", "expected"),
    [
        (None, None, "uk"),
        ("en-GB,en;q=0.9", None, "en"),
        ("EN-us", None, "en"),  # tags are case-insensitive
        ("FR, en", None, "fr"),
        ("de-DE,de;q=0.9,fr;q=0.8,en;q=0.5", None, "fr"),
        ("ru;q=1, en;q=0.2", None, "en"),
        ("en;q=0, fr;q=0.1", None, "fr"),
        ("xx, *;q=0.5", None, "uk"),
        ("en", "fr", "fr"),  # the remembered switch wins
        ("en", "de", "en"),  # a cookie we cannot honour is ignored
        ("garbage;;;q=abc, , uk-UA", None, "uk"),
    ],
)
def test_negotiate(header: str | None, cookie: str | None, expected: str) -> None:
    assert i18n.negotiate(header, cookie) == expected


@pytest.mark.parametrize(
    ("lang", "n", "form"),
    [
        ("uk", 1, "one"),
        ("uk", 21, "one"),
        ("uk", 11, "many"),
        ("uk", 2, "few"),
        ("uk", 24, "few"),
        ("uk", 12, "many"),
        ("uk", 5, "many"),
        ("uk", 0, "many"),
        ("en", 1, "one"),
        ("en", 0, "other"),
        ("fr", 0, "one"),
        ("fr", 1, "one"),
        ("fr", 2, "other"),
    ],
)
def test_plural_forms_follow_cldr(lang: str, n: int, form: str) -> None:
    assert i18n.plural_form(lang, n) == form


def test_counted_phrases() -> None:
    uk = i18n.catalogue("uk")
    assert uk("summary.oblasts", n=1, total=27) == "Тривога в 1 області з 27"
    assert uk("summary.oblasts", n=12, total=27) == "Тривога в 12 областях з 27"
    assert uk("summary.active", n=3) == "3 активні тривоги"
    assert i18n.catalogue("en")("summary.active", n=1) == "1 active alert"


FORMS = {
    "uk": {"one", "few", "many", "other"},
    "en": {"one", "other"},
    "fr": {"one", "many", "other"},
}


def placeholders(entry: object) -> set[str]:
    texts = entry.values() if isinstance(entry, dict) else [entry]
    return {p for text in texts for p in re.findall(r"\{(\w+)\}", str(text))}


def test_catalogues_have_the_same_keys_forms_and_placeholders() -> None:
    base = i18n.catalogue("uk").messages
    for lang in i18n.LANGUAGES:
        messages = i18n.catalogue(lang).messages
        assert set(messages) == set(base), f"{lang}: {set(messages) ^ set(base)}"
        for key, entry in messages.items():
            assert placeholders(entry) == placeholders(base[key]), f"{lang} {key}"
            if isinstance(entry, dict):
                assert set(entry) == FORMS[lang], f"{lang} {key} has forms {set(entry)}"


def test_every_key_the_pages_use_is_in_the_catalogue() -> None:
    from importlib import resources

    web = resources.files("tryvoha.web")
    used: set[str] = set()
    for folder, pattern in (
        ("templates", r"""\bt\(\s*["']([\w.]+)["']"""),
        ("static/js", r"""\bt\(\s*["`]([\w.]+)["`]"""),
    ):
        for entry in web.joinpath(folder).iterdir():
            used |= set(re.findall(pattern, entry.read_text(encoding="utf-8")))
    messages = i18n.catalogue("uk").messages
    missing = {k for k in used if not k.endswith(".") and k not in messages}
    assert not missing
    # a key made from a prefix and a value ("threat." ~ th): every value is there
    from tryvoha.domain.alerts import ThreatKind, ThreatType

    for prefix, values in (("threat.", ThreatType), ("kind.", ThreatKind)):
        assert prefix in used
        assert all(f"{prefix}{v.value}" in messages for v in values)
