"""Raw sockets for the MLLP connection-limit tests: a connection from a chosen loopback
address (standing for a peer), and whether the server closed it."""

from __future__ import annotations

import asyncio

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(port: int, source: str = "127.0.0.1") -> Conn:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed_by_server(conn: Conn, within: float) -> bool:
    """Whether the server closes ``conn`` (EOF or reset) within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            return await conn[0].read(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True
