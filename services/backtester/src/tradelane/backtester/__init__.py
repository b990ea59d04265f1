"""The backtester: plans a backtest's decisions, runs them as executions, simulates its trades."""
