"""The mesh's certificate authorities, made by the tls provider and kept in the stack's state:
the KDS CA zones trust with the certificate the global's zone-sync server presents, and the
mesh CA (a `provided` mTLS backend) that signs every data plane's identity."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

from components.kuma.settings import (
    CA_VALIDITY_HOURS,
    MESH_CA_VALIDITY_HOURS,
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


@dataclass(frozen=True)
class MeshCa:
    cert_pem: pulumi.Output[str]
    # A Pulumi secret: encrypted in the state, masked in every output.
    key_pem: pulumi.Output[str]


def _ecdsa_key(resource_name: str, opts: pulumi.ResourceOptions) -> tls.PrivateKey:
    return tls.PrivateKey(resource_name, algorithm="ECDSA", ecdsa_curve="P256", opts=opts)


def _self_signed_ca(
    resource_name: str,
    key: tls.PrivateKey,
    common_name: str,
    *,
    validity_hours: int,
    early_renewal_hours: int | None,
    opts: pulumi.ResourceOptions,
) -> tls.SelfSignedCert:
    """A CA certificate: basic constraint CA, key usage certSign (and never keyAgreement, which
    Kuma's provided CA refuses: kumahq/kuma v2.13.10 pkg/plugins/ca/provided/
    ca_cert_validator.go)."""
    return tls.SelfSignedCert(
        resource_name,
        private_key_pem=key.private_key_pem,
        is_ca_certificate=True,
        validity_period_hours=validity_hours,
        early_renewal_hours=early_renewal_hours,
        allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
        subject=tls.SelfSignedCertSubjectArgs(common_name=common_name, organization="platform"),
        opts=opts,
    )


def kds_pki(name: str, environment: str, address: str, opts: pulumi.ResourceOptions) -> KdsPki:
    """An ECDSA P-256 CA and a server certificate whose only SAN is the reserved KDS address
    (exactly what zones dial); children of the component `opts` names."""
    ca_key = _ecdsa_key(f"{name}-kds-ca", opts)
    ca_cert = _self_signed_ca(
        f"{name}-kds-ca",
        ca_key,
        f"kuma-kds-ca.{environment}",
        validity_hours=CA_VALIDITY_HOURS,
        # Never renewed by the program: a new KDS CA must reach every zone first.
        early_renewal_hours=None,
        opts=opts,
    )
    server_key = _ecdsa_key(f"{name}-kds-server", opts)
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


def mesh_ca(name: str, environment: str, mesh: str, opts: pulumi.ResourceOptions) -> MeshCa:
    """The mesh's trust root: an ECDSA P-256 CA (Kuma signs RSA workload certificates with any
    key Go's tls.X509KeyPair parses: pkg/core/ca/issuer/issuer.go). Its key is in the state
    (a Pulumi secret), in the Secret Manager record `kuma-mesh-ca`, in the Kuma Secret
    `mesh-ca-key` on the global, and, since KDS syncs every mesh Secret global -> zones
    (kumahq/kuma v2.13.10 pkg/kds/context/context.go `GlobalProvidedFilter` holds back only
    some control-plane-internal GlobalSecrets), in kuma-system of every zone cluster: whoever
    may read Secrets there holds it (docs/architecture.md, "Who holds the mesh CA key")."""
    key = _ecdsa_key(f"{name}-mesh-ca", opts)
    cert = _self_signed_ca(
        f"{name}-mesh-ca",
        key,
        f"kuma-mesh-ca.{mesh}.{environment}",
        validity_hours=MESH_CA_VALIDITY_HOURS,
        # Never renewed in place: a new trust root is a rotation (settings.py).
        early_renewal_hours=None,
        opts=opts,
    )
    return MeshCa(cert.cert_pem, key.private_key_pem.apply(pulumi.Output.secret))
