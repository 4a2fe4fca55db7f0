"""Configuration that is valid but unsafe: said by ``carehub check-config`` (warnings, exit
0) and logged when the hub starts."""

from __future__ import annotations

from urllib.parse import urlsplit

from carehub.app.http import http_wanted, is_loopback
from hub.config import FhirOutbound, HubConfig

__all__ = ["config_warnings"]


def config_warnings(cfg: HubConfig, *, urls_from_file: bool = True) -> list[str]:
    """What is valid but unsafe: plain HTTP off loopback, a bearer token or SMART client
    assertion sent over plain ``http://``, a password written into ``amqp_url`` or ``db_url``
    (secrets belong in the environment; ``urls_from_file=False`` when the URLs may have come
    from there, as in ``carehub run`` with its overrides)."""
    out = []
    http = cfg.hub.http
    if http_wanted(cfg) and http.tls is None and not is_loopback(http.host):
        out.append(
            f"hub.http: plain HTTP on {http.host} (not loopback) without tls: bearer tokens "
            "and PHI cross the network unencrypted; configure hub.http.tls (or bind "
            "127.0.0.1 behind a TLS proxy)"
        )
    for name, system in cfg.systems.items():
        outbound = system.outbound
        if not isinstance(outbound, FhirOutbound) or outbound.auth.type == "none":
            continue
        urls = {"url": outbound.url, "auth.token_url": outbound.auth.token_url}
        for key, url in urls.items():
            if url and urlsplit(url).scheme.lower() == "http":
                out.append(
                    f"systems.{name}.outbound.{key}: {outbound.auth.type} credentials over "
                    f"plain http:// ({_without_userinfo(url)}); use https://"
                )
    for key, url in (("hub.amqp_url", cfg.hub.amqp_url), ("hub.db_url", cfg.hub.db_url)):
        if urls_from_file and url and _has_password(url):
            out.append(
                f"{key}: the URL carries a password; keep secrets out of the file — set "
                "CAREHUB_AMQP_URL / CAREHUB_DB_URL in the environment instead"
            )
    return out


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host, query="", fragment="").geturl()
