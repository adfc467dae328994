"""Differential privacy: OpenDP measurements, their costs and their accuracy.

Nothing here touches a dataset. The engine hands in exact bounded aggregates (small vectors) and
gets back noisy ones; every noise draw, privacy map and accuracy figure comes from OpenDP.
"""
