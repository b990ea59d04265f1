"""The tradelane command."""
