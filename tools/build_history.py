"""Build src/tryvoha/data/history/ from the alert-history snapshot in ../shared/data.

Run by developers when the upstream data changes; the output is committed and is what
`tryvoha import-history` and `tryvoha demo` read at run time. The CSV files are copied
byte for byte and gzip-compressed reproducibly (no name, mtime 0), so
`gzip -dc FILE.csv.gz | sha256sum` matches the upstream file named in PROVENANCE.md.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "alerts-history"
TARGET = ROOT / "src" / "tryvoha" / "data" / "history"

# (file in the snapshot, name in the package)
DATA = (
    ("official_data_en.csv", "official_data_en.csv.gz"),
    ("derived/oblast_events_consolidated.csv", "oblast_events_consolidated.csv.gz"),
)
LICENCES = (
    ("LICENSE", "LICENSE"),  # Vadym Klymenko's dataset (both files derive from it)
    ("derived/LICENSE", "LICENSE.consolidated"),  # the consolidation step
)


def main() -> int:
    if not SOURCE.is_dir():
        print(f"no snapshot at {SOURCE}", file=sys.stderr)
        return 1
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, packed in DATA:
        raw = (SOURCE / name).read_bytes()
        out = TARGET / packed
        with out.open("wb") as f, gzip.GzipFile("", "wb", 9, f, mtime=0) as z:
            z.write(raw)
        rows = raw.count(b"\n") - 1
        digest = hashlib.sha256(raw).hexdigest()
        print(
            f"{packed}: {rows:,} rows, {len(raw):,} B -> {out.stat().st_size:,} B, sha256 {digest}"
        )
    for name, copied in LICENCES:
        shutil.copyfile(SOURCE / name, TARGET / copied)
    print(f"wrote {TARGET.relative_to(ROOT)}; update PROVENANCE.md there if the numbers changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
