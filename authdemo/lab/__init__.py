"""The comparison lab: real servers started and stopped on loopback ports, experiments, benchmarks.

Used by the lab commands and by the tests. The app itself loads only views.py
(the /compare page, which reads results.json), results.py and cli.py (the
command definitions, which import the rest when a command runs).
"""
