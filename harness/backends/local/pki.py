"""A per-cluster certificate authority and the API server's serving certificate.

A kind cluster's nodes reach the API over https, verifying a cluster CA, and
client-go never sends a bearer token over plain http: a meta-plugin built on
it (the reference Multus) is ``Unauthorized`` otherwise. Each local cluster
therefore gets its own CA (``ca.crt``) and a serving certificate signed by it
for the addresses the API is reached at (127.0.0.1 in the root namespace and
in every node's namespace, plus the in-cluster names), made with the
``cryptography`` package: nothing is shelled out, nothing outlives the run dir.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Where kube-apiserver's certificate is valid on a kind node, as seen by pods
# and host-network DaemonSets (the meta-plugin's daemon among them).
DEFAULT_HOSTS = (
    "127.0.0.1",
    "::1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
VALIDITY = datetime.timedelta(days=7)


@dataclass(frozen=True)
class ClusterPKI:
    """Paths of the PEM files (the keys are readable by root only)."""

    ca_cert: str
    ca_key: str
    server_cert: str
    server_key: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(hosts: tuple[str, ...]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_cluster_pki(
    directory: str, hosts: tuple[str, ...] = DEFAULT_HOSTS, cluster_name: str = "harness"
) -> ClusterPKI:
    """Write ``ca.crt``/``ca.key`` and ``apiserver.crt``/``apiserver.key`` in ``directory``."""
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)  # clock skew
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{cluster_name}-ca")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("kube-apiserver"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san(hosts), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = ClusterPKI(
        ca_cert=os.path.join(directory, "ca.crt"),
        ca_key=os.path.join(directory, "ca.key"),
        server_cert=os.path.join(directory, "apiserver.crt"),
        server_key=os.path.join(directory, "apiserver.key"),
    )
    _write(pki.ca_cert, ca.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(pki.ca_key, _key_pem(ca_key), 0o600)
    _write(pki.server_cert, server.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(pki.server_key, _key_pem(server_key), 0o600)
    return pki
