"""market-data's tests of IB, pacing and the symbol service.

A package, so its modules get names of their own: ``services/market-data`` is not a valid
package name, so plain modules in its ``tests`` folder would share their names (``conftest``,
``test_service``) with other services' tests in mypy's eyes.
"""
