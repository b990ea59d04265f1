"""HTTP routes, one module per resource; each stays thin and calls the store, the bus or a pure helper."""
