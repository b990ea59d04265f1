"""The one Interactive Brokers adapter: the only package that imports ``ib_async``.

- :mod:`tradelane.ib.connection`: one client kept connected to TWS / IB Gateway (reconnect with
  backoff and jitter, client id in use 326, connectivity 1100/1101/1102, farm status);
- :mod:`tradelane.ib.codes`: IB's error and status codes as named sets, and the decision for each;
- :mod:`tradelane.ib.pacing`: IB's pacing rules, kept by one shared limiter;
- :mod:`tradelane.ib.parsing`: IB's contracts and bars as tradelane's records;
- :mod:`tradelane.ib.errors`: the ways a request to IB fails;
- :mod:`tradelane.ib.testing`: :class:`~tradelane.ib.testing.FakeTws`, a loopback TWS for tests.
"""
