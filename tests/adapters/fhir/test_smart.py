"""SMART Backend Services: the client signs an assertion the token endpoint can verify with
the public key, gets a token, uses it, and fetches a new one after it expires."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from adapters.fhir.smart import ASSERTION_TYPE, SmartBackendAuth, sign_assertion
from hub.errors import ConfigError, PartnerRejected


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify(token: str, public_key: object) -> dict:
    """What a token endpoint does: check the signature, return the claims."""
    head, body, sig = token.split(".")
    signed = f"{head}.{body}".encode()
    header = json.loads(_unb64(head))
    if header["alg"] == "RS384":
        public_key.verify(_unb64(sig), signed, padding.PKCS1v15(), hashes.SHA384())
    else:
        raw = _unb64(sig)
        der = encode_dss_signature(int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big"))
        public_key.verify(der, signed, ec.ECDSA(hashes.SHA384()))
    return json.loads(_unb64(body))


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_the_assertion_verifies_with_the_public_key(kind: str):
    key = (
        rsa.generate_private_key(65537, 2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP384R1())
    )
    token = sign_assertion(_pem(key), "carehub-client", "https://ehr.example/token")
    claims = verify(token, key.public_key())
    assert claims["iss"] == claims["sub"] == "carehub-client"
    assert claims["aud"] == "https://ehr.example/token"
    assert claims["exp"] - claims["iat"] <= 300 and claims["jti"]


def test_a_key_of_the_wrong_kind_is_a_config_error():
    with pytest.raises(ConfigError):
        sign_assertion(_pem(ec.generate_private_key(ec.SECP256R1())), "c", "u")
    with pytest.raises(ConfigError):
        sign_assertion("not a key", "c", "u")


@pytest.fixture
async def token_server() -> AsyncIterator[tuple[str, list[dict], rsa.RSAPrivateKey]]:
    key = rsa.generate_private_key(65537, 2048)
    issued: list[dict] = []

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        if (
            form.get("client_assertion_type") != ASSERTION_TYPE
            or form.get("grant_type") != "client_credentials"
        ):
            return web.json_response({"error": "invalid_request"}, status=400)
        try:
            claims = verify(str(form["client_assertion"]), key.public_key())
        except Exception:
            return web.json_response({"error": "invalid_client"}, status=401)
        issued.append({"claims": claims, "scope": form.get("scope")})
        return web.json_response(
            {"access_token": f"tok-{len(issued)}", "expires_in": 1, "token_type": "bearer"}
        )

    app = web.Application()
    app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/token", issued, key
    await runner.cleanup()


async def test_tokens_are_fetched_with_the_assertion_and_renewed_after_expiry(token_server):
    url, issued, key = token_server
    auth = SmartBackendAuth(url, "carehub", _pem(key), scope="system/Patient.cu")
    first = await auth()
    # expires_in 1 s minus the renewal margin: already due, so the next call renews
    second = await auth()
    assert (first, second) == ("tok-1", "tok-2")
    assert issued[0]["scope"] == "system/Patient.cu"
    assert issued[0]["claims"]["aud"] == url


async def test_a_refused_client_is_a_permanent_error(token_server):
    url, _, _ = token_server
    other = rsa.generate_private_key(65537, 2048)  # not the key the server knows
    with pytest.raises(PartnerRejected, match="refused the client"):
        await SmartBackendAuth(url, "carehub", _pem(other))()
