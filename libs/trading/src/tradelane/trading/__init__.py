"""The trading rules shared by the broker (paper and live) and the backtester's simulated venue."""
