"""Fires strategies on their cron schedule."""
