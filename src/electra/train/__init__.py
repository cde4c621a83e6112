"""The training engine: one step function and one loop with hooks, for every task (no model, objective or data code)."""
