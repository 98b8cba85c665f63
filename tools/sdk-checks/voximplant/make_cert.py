"""Writes a throw-away certificate authority and a server certificate for 127.0.0.1.

    python make_cert.py OUT_DIR

OUT_DIR receives `ca.pem` (the CA certificate, for REQUESTS_CA_BUNDLE), `cert.pem` (the
server certificate followed by the CA, for stratad --tls-cert) and `key.pem` (the server's
PKCS#8 private key, for stratad --tls-key).

Uses `cryptography`, which the Voximplant SDK depends on, so no `openssl` binary is needed
(a minimal Debian has none). A real CA plus a leaf, rather than one self-signed leaf, because
Python's default verification (strict X.509 since 3.13) wants a proper CA certificate.
"""

import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Long enough for any CI run, short enough that a leaked test key is worthless soon.
VALIDITY = datetime.timedelta(days=2)
# Tolerates a client clock slightly behind the machine that made the certificate.
BACKDATE = datetime.timedelta(minutes=5)


def name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write(path, data, mode):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def main(out_dir):
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before, not_after = now - BACKDATE, now + VALIDITY

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("Strata SDK checks test CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    write(os.path.join(out_dir, "ca.pem"), ca_cert.public_bytes(pem), 0o644)
    write(os.path.join(out_dir, "cert.pem"), cert.public_bytes(pem) + ca_cert.public_bytes(pem), 0o644)
    write(
        os.path.join(out_dir, "key.pem"),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        0o600,
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_cert.py OUT_DIR")
    main(sys.argv[1])
