"""``carehub run``: the hub until SIGINT/SIGTERM, with logs on stderr."""

from __future__ import annotations

import asyncio
import logging
import signal

from carehub.app.checks import config_warnings
from carehub.app.hub import Hub
from hub.config import HubConfig
from hub.store import display_url

__all__ = ["configure_logging", "run_forever"]

log = logging.getLogger("carehub")


def configure_logging(level: str = "INFO") -> None:
    """Plain lines on stderr. Log records carry ids and counts, never message content."""
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pika").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


async def run_forever(cfg: HubConfig) -> None:
    configure_logging(cfg.hub.log_level)
    for warning in config_warnings(cfg, urls_from_file=False):
        log.warning("config: %s", warning)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Hub(cfg) as hub:
        assert hub.inbound is not None
        log.info(
            "store %s, transport %s",
            display_url(hub.store.url if hub.store else ""),
            "rabbitmq" if cfg.hub.amqp_url else "embedded",
        )
        for port in hub.inbound.ports:
            log.info("listening: system %s port %s at %s", port.system, port.name, port.address)
        await stop.wait()
        log.info("stopping")
