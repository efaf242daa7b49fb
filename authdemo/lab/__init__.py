"""The comparison lab: real servers started and stopped on loopback ports, experiments, benchmarks.

Used by the lab commands and by the tests; never imported on the request path.
"""
