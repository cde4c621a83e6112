"""Recipes: the only place that knows which model, objective and data go together.

Each recipe builds them from its configuration and runs them on the shared engine (:mod:`electra.train`).
"""
