"""The operator's web UI: server-rendered pages (Jinja2), made live with htmx and Server-Sent Events.

Why this shape rather than a single-page app:

- **One language, one source of truth.** The pages are rendered by the same process, from the
  same repositories and route functions the REST API uses (a page calls
  :func:`tradelane.gateway.routes.executions.list_executions`, it does not query again), so the
  UI cannot drift from the API or call an endpoint that does not exist.
- **No Node at run time, no build step.** htmx and its SSE extension are two vendored files
  (``static/vendor``, see ``VENDORED.md``); ``make run`` serves everything from Python.
- **A strict Content-Security-Policy.** Pages load script and style only from this origin
  (``'self'``), with no inline script, no inline style and no ``eval`` (htmx is configured with
  ``allowEval: false`` and ``includeIndicatorStyles: false``).
- **Live where it matters, by SSE.** An execution's steps, and the list of executions, arrive
  as HTML fragments over Server-Sent Events (:mod:`.live`): one long-lived GET that the browser
  reconnects by itself, which passes the same access layer as every other request, needs no
  WebSocket and no client state. The stream is fed from the lineage in Postgres (what the
  REST API returns, once the lineage service has recorded it), checked every second, and sends
  a fragment only when it changed. Following NATS instead would be earlier by milliseconds,
  but it would show steps the audit trail has not recorded yet, and each page would rebuild
  from raw events what the lineage service already derives (status, durations, failures).
  The live log (:mod:`.livelog`) follows NATS, because bus events and the services' log lines
  as they are published are what it shows. The orders and portfolio pages follow NATS too, but
  only to learn when to look: the broker publishes an order or position event once the change
  is committed, so the event says when the book changed, and the page fetches its lists again
  through the route that drew them (:func:`.live.changes`); nothing is rebuilt from the events.

Authentication is the API's: the login page trades a token for the session cookie through
``POST /api/session``; every page and action then passes the access layer with that cookie,
and every change echoes the session's CSRF token (htmx sends it from ``hx-headers``). Which
scope each page and action needs is in the one policy table
(:mod:`tradelane.gateway.security.policy`); a page shows only the controls the scope allows.
"""
