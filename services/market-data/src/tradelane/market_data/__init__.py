"""Symbol resolve and bars (simulated, IBKR)."""
