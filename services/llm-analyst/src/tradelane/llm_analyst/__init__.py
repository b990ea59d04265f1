"""Chart and indicator analysis (offline rules, OpenAI-compatible later)."""
