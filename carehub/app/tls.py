"""TLS for the hub's listeners from a ``tls:`` block of the config (MLLP ports and the HTTP
server use the same options): the server context, and the client-certificate allow-list.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Callable
from typing import Any

from hub.config import TlsConfig, secret
from hub.errors import ConfigError

__all__ = ["certificate_identity", "client_certificate_check", "server_context"]

_FINGERPRINT = re.compile(r"^[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2}){31}$")


def server_context(tls: TlsConfig, where: str) -> ssl.SSLContext:
    """A TLS 1.2+ (or 1.3) server context; with ``require_client_cert``, mutual TLS against
    ``ca``. The key's password comes from the environment. ``where`` names the config key
    (``hub.http.tls``) in errors."""
    password = (
        secret(tls.key_password_env, f"{where}.key_password_env") if tls.key_password_env else None
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if tls.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    )
    try:
        context.load_cert_chain(tls.cert, tls.key, password=password)
        if tls.require_client_cert:
            if not tls.ca:
                raise ConfigError(f"{where}.ca: mutual TLS needs the clients' CA file")
            context.load_verify_locations(tls.ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{where}: cannot load certificate or key: {exc}") from exc
    return context


def certificate_identity(ssl_object: Any) -> tuple[str | None, str | None]:
    """The client certificate's subject CN and SHA-256 fingerprint (lower-case hex) of a TLS
    connection; ``(None, None)`` without one."""
    if ssl_object is None:
        return None, None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None, None
    subject = ssl_object.getpeercert().get("subject", ())
    names = [value for rdn in subject for key, value in rdn if key == "commonName"]
    return (names[0] if names else None), hashlib.sha256(der).hexdigest()


def client_certificate_check(tls: TlsConfig | None) -> Callable[[Any], bool] | None:
    """``allowed_clients`` (subject CNs or SHA-256 fingerprints) as a check of a connection's
    ``ssl_object``; None when the list is empty (every certificate the CA signed is let in)."""
    if tls is None or not tls.allowed_clients:
        return None
    prints = {c.replace(":", "").lower() for c in tls.allowed_clients if _FINGERPRINT.match(c)}
    subjects = {c for c in tls.allowed_clients if not _FINGERPRINT.match(c)}

    def allowed(ssl_object: Any) -> bool:
        cn, fingerprint = certificate_identity(ssl_object)
        return (cn is not None and cn in subjects) or (
            fingerprint is not None and fingerprint in prints
        )

    return allowed
