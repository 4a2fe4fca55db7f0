"""SMART Backend Services (client credentials with a signed JWT assertion) for partners
whose FHIR servers ask for it (HL7 SMART App Launch 2.x, "Backend Services").

The client signs a short-lived JWT (RS384 for an RSA key, ES384 for a P-384 EC key) with
its private key, posts it to the partner's token endpoint as a ``client_credentials`` grant,
and uses the access token until shortly before it expires. The token request never follows
a redirect: a 3xx fails (permanently by default, ``redirects="retry"`` transiently) naming
the ``Location``'s origin only — the signed assertion goes nowhere but ``token_url``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from adapters.fhir.client import RedirectPolicy, redirect_error
from hub.errors import ConfigError, PartnerRejected, PartnerUnavailable

__all__ = ["SmartBackendAuth", "sign_assertion"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: renew this many seconds before the token expires
_MARGIN = 60.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_assertion(
    private_key_pem: str,
    client_id: str,
    token_url: str,
    *,
    kid: str | None = None,
    lifetime: int = 300,
) -> str:
    """The client assertion: a JWT (iss = sub = client id, aud = token URL, exp ≤ 5 min,
    a unique jti), signed RS384 or ES384 by the key's type."""
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError("SMART backend: the private key is not a PEM private key") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        alg = "RS384"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        alg = "ES384"
    else:
        raise ConfigError("SMART backend: the key must be RSA or EC P-384")
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid:
        header["kid"] = kid
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": now + lifetime,
        "iat": now,
        "jti": uuid.uuid4().hex,
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA384())
    else:
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA384())))
        signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")  # JWS wants r || s
    return f"{signing_input}.{_b64(signature)}"


class SmartBackendAuth:
    """An access-token source for ``FhirClient(token=...)``."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        private_key_pem: str,
        *,
        scope: str = "system/*.rs",
        kid: str | None = None,
        timeout: float = 30.0,
        redirects: RedirectPolicy = "fail",
    ):
        self.token_url = token_url
        self.redirects: RedirectPolicy = redirects
        self.client_id = client_id
        self.scope = scope
        self.kid = kid
        self._key = private_key_pem
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                await self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the token (the partner answered 401): the next call fetches a new one."""
        self._token = None

    async def _fetch(self) -> None:
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": sign_assertion(
                self._key, self.client_id, self.token_url, kid=self.kid
            ),
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as http,
                http.post(self.token_url, data=form, allow_redirects=False) as resp,
            ):
                status = resp.status
                if 300 <= status < 400:
                    raise redirect_error(
                        "token endpoint", status, self.token_url, resp.headers, self.redirects
                    )
                body = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise PartnerUnavailable(f"token endpoint: {type(exc).__name__}") from exc
        if status >= 500 or status == 429:
            raise PartnerUnavailable(f"token endpoint answered {status}")
        if status != 200 or not isinstance(body, dict) or "access_token" not in body:
            error = body.get("error") if isinstance(body, dict) else None
            raise PartnerRejected(f"token endpoint refused the client ({status} {error or ''})")
        self._token = str(body["access_token"])
        self._expires = time.monotonic() + max(0.0, float(body.get("expires_in", 300)) - _MARGIN)
