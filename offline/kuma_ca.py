"""A certificate of the shape pulumi-tls makes from a `SelfSignedCert`'s inputs, generated with the
machine's `openssl`, and Kuma's checks of a `provided` CA applied to it.

pulumi-tls is hashicorp/terraform-provider-tls: `is_ca_certificate` sets the basic constraint
CA, and each `allowed_uses` keyword sets one X.509 key usage bit (internal/provider/
common_cert.go `keyUsages`: cert_signing -> keyCertSign, crl_signing -> cRLSign, key_agreement ->
keyAgreement, ...). Kuma (kumahq/kuma v2.13.10 pkg/plugins/ca/provided/ca_cert_validator.go
`validateCaCert`) refuses a pair that is not a TLS key pair, a certificate without CA, without
keyCertSign, or with keyAgreement.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

# terraform-provider-tls keyword -> OpenSSL's name of the same key usage bit.
KEY_USAGES: Final = {
    "digital_signature": "digitalSignature",
    "content_commitment": "nonRepudiation",
    "key_encipherment": "keyEncipherment",
    "data_encipherment": "dataEncipherment",
    "key_agreement": "keyAgreement",
    "cert_signing": "keyCertSign",
    "crl_signing": "cRLSign",
    "encipher_only": "encipherOnly",
    "decipher_only": "decipherOnly",
}
_CURVES: Final = {
    "P224": "secp224r1",
    "P256": "prime256v1",
    "P384": "secp384r1",
    "P521": "secp521r1",
}


def _openssl(*args: str, cwd: Path) -> str:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def problems(key_inputs: Mapping[str, Any], cert_inputs: Mapping[str, Any]) -> list[str]:
    """Kuma's violations for the pair pulumi-tls would make from these inputs ([] = accepted)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        curve = _CURVES[str(key_inputs.get("ecdsaCurve", "P224"))]
        _openssl("ecparam", "-name", curve, "-genkey", "-noout", "-out", "key.pem", cwd=root)
        extensions = []
        if cert_inputs.get("isCaCertificate"):
            extensions.append("basicConstraints = critical, CA:TRUE")
        usages = [KEY_USAGES[u] for u in cert_inputs.get("allowedUses", []) if u in KEY_USAGES]
        if usages:
            extensions.append(f"keyUsage = critical, {', '.join(usages)}")
        # A config of our own: OpenSSL's default one would add CA extensions by itself.
        (root / "req.cnf").write_text(
            "[req]\ndistinguished_name = dn\nx509_extensions = ext\nprompt = no\n"
            "[dn]\nCN = kuma-mesh-ca\n[ext]\n" + "\n".join(extensions) + "\n"
        )
        _openssl(
            "req", "-x509", "-new", "-key", "key.pem", "-config", "req.cnf", "-days", "1",
            "-out", "cert.pem", cwd=root,
        )  # fmt: skip
        found = []
        cert_key = _openssl("x509", "-in", "cert.pem", "-noout", "-pubkey", cwd=root)
        if cert_key != _openssl("pkey", "-in", "key.pem", "-pubout", cwd=root):
            found.append("cert: not a valid TLS key pair")
        text = _openssl("x509", "-in", "cert.pem", "-noout", "-text", cwd=root)
        if "CA:TRUE" not in text:
            found.append("cert[0]: basic constraint 'CA' must be set to 'true'")
        if "Certificate Sign" not in text:
            found.append("cert[0]: key usage extension 'keyCertSign' must be set")
        if "Key Agreement" in text:
            found.append("cert[0]: key usage extension 'keyAgreement' must NOT be set")
        return found
