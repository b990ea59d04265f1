"""Wait until the NATS server has read everything a connection has sent: what ``flush()`` promises.

nats-py's ``Client.flush()`` sends a PING and waits for the PONG, but it writes that PING
straight to the socket, ahead of the commands still queued for the client's flusher task: a
subscription made just before is such a command. The PONG can then come back before the server
has read the SUB, and a message published right after on *another* connection finds no
subscription (core NATS drops it; a request gets "no responders"). Seen with nats-py 2.16.0
and nats-server 2.15.1: a server trace showed ``PING`` read before the ``SUB`` sent ahead of it.

While the first round trip is under way the flusher task writes what was queued, so a second
PING goes out behind it, and its PONG means the server has read all of it.
"""

from __future__ import annotations

from nats.aio.client import Client as NatsClient


async def flush_queued(client: NatsClient) -> None:
    """Return once the server has read every command ``client`` had queued (SUBs, PUBs) before this call."""
    await client.flush()  # its PING may overtake the queued commands; meanwhile the flusher writes them
    await client.flush()  # this PING follows them
