"""The verification code docs/webhooks.md gives receivers, in Python and in JavaScript,
run against a delivery signed as tryvoha signs it: it takes the real one, refuses a
tampered body and a wrong secret, and recognises a repeat by its webhook-id."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.missing import missing
from tests.support.server import timeout
from tryvoha.protocol.webhooks import message_id, new_secret, signed_headers

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
BODY = '{"seq":1207,"type":"alert.declared","alert":{"region_id":"UA63000000000041885"}}'


def snippet(language: str, first_line: str) -> str:
    for block in re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S):
        if block.startswith(first_line):
            return str(block)
    raise AssertionError(f"no {language} block starting {first_line!r} in {DOC}")


def delivery(secret: str, body: str = BODY) -> dict[str, str]:
    signer = Webhook(secret)
    msg = message_id("wh_5b0e9c2d41f7a386", 1207)
    return dict(signed_headers(signer, msg, datetime.now(UTC), body.encode()))


def test_the_python_verifier_of_the_docs() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(snippet("python", "# verify.py"), "verify.py", "exec"), namespace)
    receive = namespace["receive"]
    secret = new_secret(os.urandom(32))
    headers = delivery(secret)
    assert receive(secret, headers, BODY.encode())["seq"] == 1207
    assert receive(secret, headers, BODY.encode()) is None  # the same id again: a repeat
    with pytest.raises(WebhookVerificationError):
        receive(secret, headers, BODY.replace("1207", "1208").encode())
    with pytest.raises(WebhookVerificationError):
        receive(new_secret(os.urandom(32)), delivery(secret), BODY.encode())


def test_the_javascript_verifier_of_the_docs(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        missing("node is missing: run `make system-test`")
    (tmp_path / "verify.mjs").write_text(snippet("js", "// verify.mjs"))
    (tmp_path / "check.mjs").write_text(
        """
import { receive } from "./verify.mjs";
const cases = JSON.parse(process.argv[2]);
const out = [];
for (const c of cases) {
  try { out.push(receive(c.secret, c.headers, Buffer.from(c.body))); }
  catch (e) { out.push({ error: e.message }); }
}
console.log(JSON.stringify(out));
"""
    )
    secret = new_secret(os.urandom(32))
    headers = delivery(secret)
    cases = [
        {"secret": secret, "headers": headers, "body": BODY},
        {"secret": secret, "headers": headers, "body": BODY},
        {"secret": secret, "headers": headers, "body": BODY.replace("1207", "1208")},
        {"secret": new_secret(os.urandom(32)), "headers": delivery(secret), "body": BODY},
        {"secret": secret, "headers": {**headers, "webhook-timestamp": "1000"}, "body": BODY},
    ]
    done = subprocess.run(
        [node, str(tmp_path / "check.mjs"), json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=timeout(30),
    )
    assert done.returncode == 0, done.stderr
    first, again, tampered, stranger, stale = json.loads(done.stdout)
    assert first["seq"] == 1207
    assert again is None
    assert tampered == stranger == {"error": "bad signature"}
    assert stale == {"error": "stale"}
