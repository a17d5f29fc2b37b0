"""Static files and generated data, held in memory with a content hash and a gzip copy.

Pages link every file with ?v=<hash>, and an import map gives the ES modules the same
versioned addresses, so browsers and caches may keep them for a year and still never run
an old module against a new page.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

import orjson

TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".png": "image/png",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None  # None when compressing does not pay
    version: str
    content_type: str

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    @classmethod
    def of(cls, body: bytes, content_type: str) -> Asset:
        version = hashlib.sha256(body).hexdigest()[:12]
        gz = None
        if content_type.startswith(TEXT_TYPES) and len(body) > 512:
            gz = gzip.compress(body, compresslevel=9, mtime=0)
        return cls(body, gz, version, content_type)


def content_type(name: str) -> str:
    suffix = name[name.rfind(".") :] if "." in name else ""
    return TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _walk(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in folder.iterdir():
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir():
            found.extend(_walk(entry, f"{prefix}{entry.name}/"))
        else:
            found.append((prefix + entry.name, entry))
    return found


class StaticFiles:
    """Every file under tryvoha/web/static, by its path there ("js/map.js")."""

    PREFIX = "/static/"

    def __init__(self) -> None:
        root = resources.files("tryvoha.web").joinpath("static")
        self.files = {
            path: Asset.of(entry.read_bytes(), content_type(path)) for path, entry in _walk(root)
        }

    def get(self, path: str) -> Asset | None:
        return self.files.get(path)

    def url(self, path: str) -> str:
        asset = self.files.get(path)
        if asset is None:
            raise KeyError(f"no static file {path}")
        return f"{self.PREFIX}{path}?v={asset.version}"

    def import_map(self) -> str:
        """Module address to versioned address, for <script type="importmap">."""
        imports = {
            f"{self.PREFIX}{path}": self.url(path)
            for path in sorted(self.files)
            if path.endswith(".js")
        }
        return orjson.dumps({"imports": imports}).decode()
