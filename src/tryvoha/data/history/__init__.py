"""The shipped alert-history record, gzip-compressed. See PROVENANCE.md beside these files."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

OFFICIAL_FILE = "official_data_en.csv.gz"
CONSOLIDATED_FILE = "oblast_events_consolidated.csv.gz"


@contextmanager
def open_record(name: str) -> Iterator[io.TextIOWrapper]:
    """One shipped file as text, decompressed as it is read."""
    with (
        resources.files(__package__).joinpath(name).open("rb") as raw,
        gzip.GzipFile(fileobj=raw) as unpacked,
        io.TextIOWrapper(unpacked, encoding="utf-8", newline="") as text,
    ):
        yield text
