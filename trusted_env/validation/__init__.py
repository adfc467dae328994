"""Checks that stand between what a researcher writes and what the engine runs."""
