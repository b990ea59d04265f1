"""The notifier: tells a person about signals, orders, fills and failed executions through Apprise."""
