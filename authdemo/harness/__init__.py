"""The real-server harness: start and stop redis-server, memcached, PostgreSQL, nginx and app processes on loopback.

It serves three users: the test suite's fixtures, ``make serve`` (the
production-like stack) and the lab's restart and benchmark runs. Nothing on
the request path imports it.
"""
