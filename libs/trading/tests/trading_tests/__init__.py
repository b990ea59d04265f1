"""The trading rules' tests: a package, so its helpers are imported relatively (``from .support import ...``)."""
