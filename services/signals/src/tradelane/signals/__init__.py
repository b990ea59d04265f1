"""Turns analyses into validated trade signals."""
