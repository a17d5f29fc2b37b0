"""The shipped alert-history record, gzip-compressed. See PROVENANCE.md beside these files."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from importlib import resources

OFFICIAL_FILE = "official_data_en.csv.gz"
CONSOLIDATED_FILE = "oblast_events_consolidated.csv.gz"
# The first and the last day (UTC) an alert of the shipped record starts on.
FIRST_DAY = date(2022, 3, 15)
LAST_DAY = date(2026, 6, 19)


@contextmanager
def open_record(name: str) -> Iterator[io.TextIOWrapper]:
    """One shipped file as text, decompressed as it is read."""
    with (
        resources.files(__package__).joinpath(name).open("rb") as raw,
        gzip.GzipFile(fileobj=raw) as unpacked,
        io.TextIOWrapper(unpacked, encoding="utf-8", newline="") as text,
    ):
        yield text
