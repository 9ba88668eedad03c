"""The chaos suite (issue 12): real ``scrapesched run`` replicas, a fake GitHub and real servers, faults at
seeded random times, then the invariants checked with SQL and the fake's ground truth.

    python -m tests.chaos --replicas 3 --seconds 120 --seed 1 --db mariadb --lock redis

``world`` sets up the processes (scratch database, lock server, fake GitHub, fleet), ``faults`` injects
the faults and logs each, ``invariants`` checks the outcome; ``__main__`` runs them in that order and
exits 0 only if every invariant holds. The long runs and their results are in docs/reliability.md.
"""
