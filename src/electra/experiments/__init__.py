"""Experiments over the recipes: pretraining variants compared downstream at equal compute."""
