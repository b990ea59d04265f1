"""Audit trail of every step of every execution."""
