"""Experiment configs (ml_collections). One file per experiment with `get_config()`."""
