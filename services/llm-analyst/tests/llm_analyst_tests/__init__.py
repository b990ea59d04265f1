"""llm-analyst's tests against the fake model server, NATS and PostgreSQL.

A package, so its modules get names of their own: ``services/llm-analyst`` is not a valid
package name, so plain modules in its ``tests`` folder would share their names (``conftest``,
``test_service``) with other services' tests in mypy's eyes.
"""
