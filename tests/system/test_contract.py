"""The OpenAPI document is the contract (issue 15, item 1): schemathesis, a real server,
its conformance checks on. Every answer it gets — status code, media type, body schema,
headers — must be one the document names for that operation, refusals included; no 5xx.
The compatible APIs, CAP, webhooks and the two-person rule are in the document and so in
the run. An admin token lets it reach past 401 into each operation's own rules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess, make_token, timeout
from tryvoha.domain.scope import Role

pytestmark = pytest.mark.slow
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)
SEED = "20261207"  # one run, the same in CI and here; change it to look elsewhere
EXAMPLES = os.environ.get("TRYVOHA_CONTRACT_EXAMPLES", "12")


def test_every_answer_is_one_the_document_names(tmp_path: Path) -> None:
    # the document and the answers do not depend on the store: one run, on SQLite
    server = ServerProcess(
        f"sqlite:///{tmp_path / 'contract.db'}",
        ["--client-rate-limit", "off", "--token-write-rate-limit", "off"],
        cwd=tmp_path,
    )
    server.start()
    try:
        token = make_token(server.store_url, "fuzz", ["UA"], Role.ADMIN)
        document = httpx.get(f"{server.url}/api/v1/openapi.json").json()
        assert "Problem" in document["components"]["schemas"]
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{server.url}/api/v1/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                CHECKS,
                "--phases",
                "examples,fuzzing",
                "--max-examples",
                EXAMPLES,
                "--seed",
                SEED,
                "--no-color",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout(400),
        )
        tested = [line for line in run.stdout.splitlines() if "Tested:" in line]
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        operations = sum(len(ops) for ops in document["paths"].values())
        assert tested and f"Tested: {operations}" in tested[0], run.stdout[-3000:]
    finally:
        server.stop()
