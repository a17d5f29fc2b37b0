"""Enveloped W3C XML signatures on CAP messages (signxml), and their verification.

CAP 1.2 puts `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">` after the last
`<info>`; the reference is the whole `<alert>` (URI=""), with the enveloped-signature
transform and exclusive canonicalisation, SHA-256, and the signer's certificate in
`<KeyInfo>`. Google Public Alerts accepts plain HTTP only for signed messages. Keys and
certificates come in as PEM bytes: reading them is the caller's business.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.utils import CryptographyDeprecationWarning
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import XMLVerifier

Signer = Callable[[etree._Element], etree._Element]


class SignatureError(ValueError):
    """A key that cannot sign, or a message whose signature does not verify."""


def signer(key_pem: bytes, cert_pem: bytes) -> Signer:
    """A function that returns a signed copy of a message."""
    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise SignatureError(f"not an unencrypted PEM private key: {e}") from None
    if isinstance(key, rsa.RSAPrivateKey):
        method = SignatureMethod.RSA_SHA256
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        method = SignatureMethod.ECDSA_SHA256
    else:
        raise SignatureError("the key must be RSA or EC")
    cert = cert_pem.decode("ascii")
    if "BEGIN CERTIFICATE" not in cert:
        raise SignatureError("the certificate is not PEM")
    xml_signer = XMLSigner(
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )

    def sign(root: etree._Element) -> etree._Element:
        signed: etree._Element = xml_signer.sign(root, key=key, cert=cert)
        return signed

    return sign


def verify(data: bytes, cert_pem: bytes | None = None) -> etree._Element:
    """The signed `<alert>` when its signature verifies: against `cert_pem` when given,
    else against the certificate in the message, which must chain to a trusted CA."""
    try:
        with warnings.catch_warnings():
            # the system's CA bundle may hold certificates newer cryptography frowns on
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            result = XMLVerifier().verify(
                data, x509_cert=None if cert_pem is None else cert_pem.decode("ascii")
            )
    except (InvalidSignature, InvalidInput) as e:
        raise SignatureError(str(e).strip() or type(e).__name__) from None
    if isinstance(result, list):
        raise SignatureError("expected one signature")
    if result.signed_xml is None:
        raise SignatureError("the signature covers no element")
    return result.signed_xml
