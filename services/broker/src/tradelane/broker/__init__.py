"""Risk engine, orders, fills, positions and P&L: the paper simulator by default, Interactive Brokers on request."""
