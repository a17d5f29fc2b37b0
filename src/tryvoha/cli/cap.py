"""`tryvoha cap verify`: is a CAP message valid CAP 1.2, and is its XML signature good?

For a reader of the feed, or an operator checking what their server signs before they
register the feed with an alert hub (docs/cap.md).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from lxml import etree

from tryvoha.cli.output import console, fail
from tryvoha.data import spec
from tryvoha.protocol import cap, cap_sign

app = typer.Typer(help="CAP 1.2 messages: check one.", no_args_is_help=True)

DSIG = "{http://www.w3.org/2000/09/xmldsig#}"


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        fail(f"{what}: cannot read {path}: {e.strerror}")


def _signer_name(signature: etree._Element) -> str:
    found = signature.find(f".//{DSIG}X509Certificate")
    if found is None or not found.text:
        return "a key with no certificate in the message"
    cert = x509.load_der_x509_certificate(base64.b64decode("".join(found.text.split())))
    return cert.subject.rfc4514_string()


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="the CAP message (XML)")],
    cert: Annotated[
        Path | None,
        typer.Option(
            "--cert",
            help="PEM certificate the signature must verify against (else the one in the message, which must chain to a trusted CA)",
        ),
    ] = None,
) -> None:
    """Check that FILE is valid CAP 1.2 (the official schema) and that its signature verifies."""
    data = _read(file, "FILE")
    pem = None if cert is None else _read(cert, "--cert")
    try:
        root = cap.parse_xml(data)
    except cap.CapError as e:
        fail(f"FILE: {e}")
    schema = etree.XMLSchema(etree.fromstring(spec.read(spec.CAP_XSD)))
    try:
        schema.assertValid(root)
    except etree.DocumentInvalid as e:
        fail(f"FILE: not valid CAP 1.2: {e}")
    signatures = root.findall(f"{DSIG}Signature")
    if not signatures:
        fail("FILE: the message is not signed (no <Signature> after its <info>)")
    try:
        signed = cap_sign.verify(data, pem)
    except cap_sign.SignatureError as e:
        fail(f"FILE: the signature does not verify: {e}")
    if signed.tag != root.tag:
        fail("FILE: the signature does not cover the whole <alert>")
    message = cap.parse(signed)
    console.print(
        f"ok: {message.identifier} from {message.sender}, sent {cap.cap_time(message.sent)},"
        f" signed by {_signer_name(signatures[0])}",
        highlight=False,
    )
