"""Jinja2 environment for the pages: autoescaped templates, the catalogue, asset links."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from tryvoha import i18n
from tryvoha.i18n.formats import DISPLAY_TIME_ZONE, local_time
from tryvoha.web.assets import StaticFiles


def script_json(data: object) -> Markup:
    """JSON safe inside <script type="application/json">: no "</" can end the element."""
    text = orjson.dumps(data).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def clock(moment: datetime) -> str:
    return local_time(moment).strftime("%H:%M")


def day_and_clock(moment: datetime) -> str:
    return local_time(moment).strftime("%d.%m.%Y %H:%M")


@dataclass
class Renderer:
    static: StaticFiles = field(default_factory=StaticFiles)
    env: Environment = field(init=False)
    import_map: str = field(init=False)
    csp: str = field(init=False)

    def __post_init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("tryvoha.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["json"] = script_json
        self.env.filters["clock"] = clock
        self.env.filters["day_clock"] = day_and_clock
        self.env.globals["asset"] = self.static.url
        self.import_map = self.static.import_map()
        digest = base64.b64encode(hashlib.sha256(self.import_map.encode()).digest()).decode()
        self.csp = "; ".join(
            (
                "default-src 'self'",
                f"script-src 'self' 'sha256-{digest}'",
                "style-src 'self'",
                "img-src 'self' data:",
                "connect-src 'self'",
                "object-src 'none'",
                "base-uri 'none'",
                "form-action 'self'",
                "frame-ancestors 'none'",
            )
        )

    def render(self, template: str, lang: str, path: str, **context: Any) -> str:
        t = i18n.catalogue(lang)
        languages = [
            {
                "code": code,
                "short": i18n.SHORT[code],
                "name": i18n.NAMES[code],
                "current": code == lang,
            }
            for code in i18n.LANGUAGES
        ]
        return self.env.get_template(template).render(
            lang=lang,
            t=t,
            languages=languages,
            path=path,
            import_map=Markup(self.import_map),
            time_zone=DISPLAY_TIME_ZONE,
            catalogue=t.messages,
            **context,
        )
