"""The one rule for a service a test needs but this machine lacks (PostgreSQL, nats-server,
mosquitto, chromium, node, nginx+nchan, wrk): under CI=true it is a failure, since CI
installs them all (`make system-test`, `make system-bench`); elsewhere the test is skipped,
saying what to install."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(why: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs it: {why}")
    pytest.skip(why)
