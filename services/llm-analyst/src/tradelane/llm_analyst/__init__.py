"""Chart and indicator analysis: a vision model on any OpenAI-compatible server, or the offline rules."""
