"""The notifier: tells a person about signals, orders, fills, failed executions, halts and LLM budget crossings
through Apprise."""
