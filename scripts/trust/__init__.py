"""``scripts/chaos`` (this package): the figures a person needs to trust genhook under faults.

Three sections, each against real processes (``genhook serve``, ``genhook simulate``)
on loopback, on SQLite or PostgreSQL: ``chaos`` (a misbehaving provider and a
flaky subscriber), ``crash`` (``kill -9`` under load, three times) and ``fuzz``
(hypothesis-generated requests at the callback route and the admin API). The test
suite runs the same functions at small scale (``tests/e2e/test_chaos.py``).
"""
