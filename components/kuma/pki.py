"""The KDS PKI: a CA zones trust and the certificate the global's zone-sync server presents."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

from components.kuma.settings import (
    CA_VALIDITY_HOURS,
    SERVER_CERT_EARLY_RENEWAL_HOURS,
    SERVER_CERT_VALIDITY_HOURS,
)


@dataclass(frozen=True)
class KdsPki:
    ca_cert_pem: pulumi.Output[str]
    server_cert_pem: pulumi.Output[str]
    server_key_pem: pulumi.Output[str]
    # RFC 3339 end of the server certificate's validity (pulumi-tls `validity_end_time`).
    server_cert_expiry: pulumi.Output[str]


def kds_pki(name: str, environment: str, address: str, opts: pulumi.ResourceOptions) -> KdsPki:
    """An ECDSA P-256 CA and a server certificate whose only SAN is the reserved KDS address
    (exactly what zones dial); children of the component `opts` names."""
    ca_key = tls.PrivateKey(f"{name}-kds-ca", algorithm="ECDSA", ecdsa_curve="P256", opts=opts)
    ca_cert = tls.SelfSignedCert(
        f"{name}-kds-ca",
        private_key_pem=ca_key.private_key_pem,
        is_ca_certificate=True,
        validity_period_hours=CA_VALIDITY_HOURS,
        allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
        subject=tls.SelfSignedCertSubjectArgs(
            common_name=f"kuma-kds-ca.{environment}", organization="platform"
        ),
        opts=opts,
    )
    server_key = tls.PrivateKey(
        f"{name}-kds-server", algorithm="ECDSA", ecdsa_curve="P256", opts=opts
    )
    server_request = tls.CertRequest(
        f"{name}-kds-server",
        private_key_pem=server_key.private_key_pem,
        # The SAN is exactly what zones dial: the reserved IP.
        ip_addresses=[address],
        subject=tls.CertRequestSubjectArgs(common_name=address, organization="platform"),
        opts=opts,
    )
    server_cert = tls.LocallySignedCert(
        f"{name}-kds-server",
        cert_request_pem=server_request.cert_request_pem,
        ca_private_key_pem=ca_key.private_key_pem,
        ca_cert_pem=ca_cert.cert_pem,
        validity_period_hours=SERVER_CERT_VALIDITY_HOURS,
        early_renewal_hours=SERVER_CERT_EARLY_RENEWAL_HOURS,
        allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
        opts=opts,
    )
    return KdsPki(
        ca_cert.cert_pem,
        server_cert.cert_pem,
        server_key.private_key_pem,
        server_cert.validity_end_time,
    )
