"""Benchmarks: scripts that start the real stack on loopback, measure, print figures and stop what they started.

Run them from the repository root: `.venv/bin/python bench/drain.py`, `.venv/bin/python bench/throttle.py`.
"""
