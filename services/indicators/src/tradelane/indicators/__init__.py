"""TA-Lib indicators and candlestick patterns."""
