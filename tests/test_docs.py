"""Every setting is documented (datasette's rule: an undocumented setting fails a test)."""

from __future__ import annotations

from pathlib import Path

from tryvoha.config import describe

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_in_docs_config() -> None:
    text = (DOCS / "config.md").read_text()
    for name, env, _default, _help in describe():
        assert f"`--{name.replace('_', '-')}`" in text, name
        assert f"`{env}`" in text, env
