"""Who may call the gateway, and what every request must look like before a route sees it.

The layers, outermost first (see :func:`install` in :mod:`.stack`): security headers on every
answer, the Host allow-list, the audit trail of state-changing requests, the body-size limit,
the same-origin rule for state changes, then authentication and the scope policy.
"""
