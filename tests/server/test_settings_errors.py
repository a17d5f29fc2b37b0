"""A settings error names the flag and what was given, but never a password that a store
or bus URL carries (the line goes to a terminal, a journal, a CI log)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tryvoha.config import Settings, explain


def test_a_bad_bus_url_is_named_without_its_password() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(bus="nats://tryvoha:s3cret@nats1:4222,ftp://nats2")  # type: ignore[call-arg]
    line = explain(caught.value)
    assert "--bus" in line and "TRYVOHA_BUS" in line
    assert "nats1:4222" in line
    assert "s3cret" not in line
