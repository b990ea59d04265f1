"""The symbol cache (schema ``market_data``): contracts and search results, per provider.

Entries from different providers never mix: the simulated provider's made-up conids are
not IB's, so a repository is bound to one provider's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from tradelane.contracts.strategy import AssetType
from tradelane.contracts.symbols import SymbolDetails, SymbolSummary


@dataclass(frozen=True)
class CachedSymbol:
    """One cache entry: always a summary, and the full details once they were fetched."""

    summary: SymbolSummary
    details: SymbolDetails | None
    fetched_at: datetime
    """When the provider last confirmed the entry (by a search or a details request)."""
    details_fetched_at: datetime | None


@dataclass(frozen=True)
class CachedSearch:
    """The results a search text returned, in the provider's order, and when."""

    symbols: list[CachedSymbol]
    fetched_at: datetime


@dataclass(frozen=True)
class SymbolCacheStatistics:
    total: int
    stale: int
    with_details: int
    by_asset_type: dict[str, int]
    by_exchange: dict[str, int]
    oldest: datetime | None
    newest: datetime | None


_COLUMNS = (
    "conid, symbol, asset_type, primary_exchange, currency, description, derivative_types,"
    " details, fetched_at, details_fetched_at"
)


def _from_row(row: asyncpg.Record) -> CachedSymbol:
    return CachedSymbol(
        summary=SymbolSummary(
            conid=row["conid"],
            symbol=row["symbol"],
            asset_type=AssetType(row["asset_type"]),
            primary_exchange=row["primary_exchange"],
            currency=row["currency"],
            description=row["description"],
            derivative_types=tuple(row["derivative_types"]),
        ),
        details=SymbolDetails.model_validate(row["details"]) if row["details"] is not None else None,
        fetched_at=row["fetched_at"],
        details_fetched_at=row["details_fetched_at"],
    )


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def normalize_query(text: str) -> str:
    """The key a search text is cached under: trimmed, inner blanks collapsed, upper case."""
    return " ".join(text.split()).upper()


class SymbolRepository:
    """Reads and writes one provider's entries in ``market_data.symbols`` and ``symbol_searches``."""

    def __init__(self, pool: asyncpg.Pool[Any], provider: str) -> None:
        self._pool = pool
        self.provider = provider

    async def save_search(self, text: str, results: Sequence[SymbolSummary], at: datetime) -> None:
        """Remember what ``text`` returned, and cache each result's summary (details are kept)."""
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.executemany(
                "INSERT INTO market_data.symbols (provider, conid, symbol, asset_type, primary_exchange,"
                " currency, description, derivative_types, fetched_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                " ON CONFLICT (provider, conid) DO UPDATE SET symbol = EXCLUDED.symbol,"
                "  asset_type = EXCLUDED.asset_type, primary_exchange = EXCLUDED.primary_exchange,"
                "  currency = EXCLUDED.currency, description = EXCLUDED.description,"
                "  derivative_types = EXCLUDED.derivative_types,"
                "  fetched_at = GREATEST(market_data.symbols.fetched_at, EXCLUDED.fetched_at)",
                [
                    (
                        self.provider,
                        result.conid,
                        result.symbol,
                        result.asset_type.value,
                        result.primary_exchange,
                        result.currency,
                        result.description,
                        list(result.derivative_types),
                        at,
                    )
                    for result in results
                ],
            )
            await connection.execute(
                "INSERT INTO market_data.symbol_searches (provider, query, conids, fetched_at)"
                " VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (provider, query) DO UPDATE SET conids = EXCLUDED.conids,"
                "  fetched_at = EXCLUDED.fetched_at",
                self.provider,
                normalize_query(text),
                [result.conid for result in results],
                at,
            )

    async def cached_search(self, text: str) -> CachedSearch | None:
        """What ``text`` returned when it was last searched, whatever its age; None if never."""
        search = await self._pool.fetchrow(
            "SELECT conids, fetched_at FROM market_data.symbol_searches WHERE provider = $1 AND query = $2",
            self.provider,
            normalize_query(text),
        )
        if search is None:
            return None
        by_conid = await self.get_many(search["conids"])
        symbols = [by_conid[conid] for conid in search["conids"] if conid in by_conid]
        return CachedSearch(symbols=symbols, fetched_at=search["fetched_at"])

    async def match(self, text: str, limit: int) -> list[CachedSymbol]:
        """Cached entries whose symbol or description contains ``text`` (any case).

        Exact symbol first, then symbol prefix, symbol substring, description substring.
        """
        needle = _like_escaped(normalize_query(text))
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS}, CASE WHEN upper(symbol) = $2 THEN 0 WHEN upper(symbol) LIKE $3 THEN 1"
            "  WHEN upper(symbol) LIKE $4 THEN 2 ELSE 3 END AS rank"
            " FROM market_data.symbols"
            " WHERE provider = $1 AND (upper(symbol) LIKE $4 OR upper(description) LIKE $4)"
            " ORDER BY rank, symbol, conid LIMIT $5",
            self.provider,
            normalize_query(text),
            f"{needle}%",
            f"%{needle}%",
            limit,
        )
        return [_from_row(row) for row in rows]

    async def save_details(self, details: SymbolDetails, at: datetime) -> None:
        """Cache a contract's full details (its summary columns follow them)."""
        await self._pool.execute(
            "INSERT INTO market_data.symbols (provider, conid, symbol, asset_type, primary_exchange,"
            " currency, description, details, fetched_at, details_fetched_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
            " ON CONFLICT (provider, conid) DO UPDATE SET symbol = EXCLUDED.symbol,"
            "  asset_type = EXCLUDED.asset_type, primary_exchange = EXCLUDED.primary_exchange,"
            "  currency = EXCLUDED.currency, description = EXCLUDED.description, details = EXCLUDED.details,"
            "  fetched_at = GREATEST(market_data.symbols.fetched_at, EXCLUDED.fetched_at),"
            "  details_fetched_at = EXCLUDED.details_fetched_at",
            self.provider,
            details.conid,
            details.symbol,
            details.asset_type.value,
            details.primary_exchange,
            details.currency,
            details.description,
            details.model_dump(mode="json"),
            at,
        )

    async def get(self, conid: int) -> CachedSymbol | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM market_data.symbols WHERE provider = $1 AND conid = $2",
            self.provider,
            conid,
        )
        return _from_row(row) if row else None

    async def get_many(self, conids: Iterable[int]) -> dict[int, CachedSymbol]:
        """The cached entries among ``conids``, by conid."""
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM market_data.symbols WHERE provider = $1 AND conid = ANY($2::bigint[])",
            self.provider,
            list(conids),
        )
        return {row["conid"]: _from_row(row) for row in rows}

    async def delete(self, conid: int) -> bool:
        """Forget a contract (the provider no longer knows it); False when it was not cached."""
        result = await self._pool.execute(
            "DELETE FROM market_data.symbols WHERE provider = $1 AND conid = $2", self.provider, conid
        )
        return bool(result == "DELETE 1")

    async def stalest(self, older_than: datetime, limit: int) -> list[int]:
        """Conids of entries last confirmed before ``older_than``, oldest first."""
        rows = await self._pool.fetch(
            "SELECT conid FROM market_data.symbols WHERE provider = $1 AND fetched_at < $2"
            " ORDER BY fetched_at, conid LIMIT $3",
            self.provider,
            older_than,
            limit,
        )
        return [row["conid"] for row in rows]

    async def count_stale(self, older_than: datetime) -> int:
        count = await self._pool.fetchval(
            "SELECT count(*) FROM market_data.symbols WHERE provider = $1 AND fetched_at < $2",
            self.provider,
            older_than,
        )
        return int(count)

    async def statistics(self, stale_before: datetime, top_exchanges: int = 10) -> SymbolCacheStatistics:
        """Totals, stale entries, and counts by asset type and by (top) primary exchange."""
        totals = await self._pool.fetchrow(
            "SELECT count(*) AS total, count(*) FILTER (WHERE fetched_at < $2) AS stale,"
            " count(*) FILTER (WHERE details IS NOT NULL) AS with_details,"
            " min(fetched_at) AS oldest, max(fetched_at) AS newest"
            " FROM market_data.symbols WHERE provider = $1",
            self.provider,
            stale_before,
        )
        by_type = await self._pool.fetch(
            "SELECT asset_type AS key, count(*) AS n FROM market_data.symbols WHERE provider = $1"
            " GROUP BY asset_type ORDER BY n DESC, asset_type",
            self.provider,
        )
        by_exchange = await self._pool.fetch(
            "SELECT primary_exchange AS key, count(*) AS n FROM market_data.symbols"
            " WHERE provider = $1 AND primary_exchange <> ''"
            " GROUP BY primary_exchange ORDER BY n DESC, primary_exchange LIMIT $2",
            self.provider,
            top_exchanges,
        )
        assert totals is not None
        return SymbolCacheStatistics(
            total=int(totals["total"]),
            stale=int(totals["stale"]),
            with_details=int(totals["with_details"]),
            by_asset_type={row["key"]: int(row["n"]) for row in by_type},
            by_exchange={row["key"]: int(row["n"]) for row in by_exchange},
            oldest=totals["oldest"],
            newest=totals["newest"],
        )
