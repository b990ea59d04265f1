"""Helpers every test tree imports (``from tests.support.waiting import eventually``).

- :mod:`tests.support.waiting`: wait for a condition, never for a time (``eventually``), and
  say so when a test checks that nothing happens for a while (``consistently``);
- :mod:`tests.support.messages`: the messages a NATS subject carries, gathered from the moment
  a test subscribes (``collect``);
- :mod:`tests.support.http`: the message of a refused HTTP request, its status checked (``refusal``);
- :mod:`tests.support.clock`: virtual time for code that takes a clock and a sleep (the IB
  pacing limiter), so pacing tests run in no wall time and assert exact instants.
"""
