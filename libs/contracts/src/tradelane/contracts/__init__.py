"""Shared pydantic contracts of tradelane: the envelope, the events of every step, and subjects.

This package depends on pydantic only, so any service (or an outside consumer of the bus)
can decode tradelane messages without pulling in another service's dependencies. The book's
records and their valuation (``book``, ``portfolio``) are here too: the broker keeps the book and
the gateway shows it, and services never import each other.
"""
