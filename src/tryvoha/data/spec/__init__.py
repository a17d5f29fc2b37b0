"""Standards' schemas shipped with the package. See PROVENANCE.md beside these files."""

from __future__ import annotations

from importlib import resources

CAP_XSD = "cap-1.2.xsd"


def read(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()
