"""Shared runtime of tradelane services: settings, logging, the bus, streams."""
