"""The broker's tests: a package, so its helpers are imported relatively (``from .support import ...``)."""
