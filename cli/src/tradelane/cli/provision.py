"""``tradelane provision``: declare the JetStream layout and apply the SQL migrations, then exit.

Every service does the same at start-up, idempotently; this command lets a deployment do
it once, up front (the Kubernetes provisioning Job runs it), with the replicas and delivery
settings of its environment (``TRADELANE_STREAM_REPLICAS``, ``TRADELANE_MAX_DELIVER``...).
"""

from __future__ import annotations

from tradelane.cli.context import Connections, Console
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import ALL_CONSUMERS, provision, stream_configs
from tradelane.store.migrate import migrate


async def provision_all(connections: Connections, console: Console, settings: Settings) -> int:
    client = await connections.nats()
    await provision(client.jetstream(), settings)
    streams = ", ".join(str(config.name) for config in stream_configs(settings))
    console.print(f"streams {streams} and {len(ALL_CONSUMERS)} consumers provisioned")
    applied = await migrate(await connections.pool())
    console.print(f"migrations applied now: {', '.join(applied) or 'none (up to date)'}")
    return 0
