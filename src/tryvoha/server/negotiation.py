"""Content negotiation the server does itself: whether a client takes gzip (RFC 9110
12.5.3), with its q-values honoured: `gzip;q=0` means "never gzip", and a coding named
outright wins over `*`."""

from __future__ import annotations


def _q(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value.strip())))
            except ValueError:
                return 0.0  # an unreadable weight: as if refused
    return 1.0


def accepts_gzip(accept_encoding: str | None) -> bool:
    if not accept_encoding:
        return False
    named: float | None = None
    anything: float | None = None
    for item in accept_encoding.split(","):
        coding, *params = item.split(";")
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            named = _q(params)
        elif coding == "*":
            anything = _q(params)
    weight = named if named is not None else anything
    return weight is not None and weight > 0
