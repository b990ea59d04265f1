"""The book (schema ``broker``): orders, fills, positions, cash, snapshots, risk state and the outbox.

Storage only; the records and their valuation are contracts (:mod:`tradelane.contracts.book`,
:mod:`tradelane.contracts.portfolio`). Who may do what:

- :mod:`.reads`: :class:`~.reads.BookReads`, the queries. The gateway gets only this.
- :mod:`.transactions`: :class:`~.transactions.BookRepository` and the
  :class:`~.transactions.BookTransaction` it opens, the writes and the outbox: the broker service's.
- :mod:`.controls`: the trading state and the risk limits, the only writes made outside the
  broker service (the gateway's kill switch must work while the broker is down).
- :mod:`.rows`: records to and from rows.
"""
