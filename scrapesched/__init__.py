"""scrapesched: a distributed scraper scheduler. N replicas, every fire once, every write an upsert.

The repository shows the layers as top-level folders; installed, each is a sub-package of this one:

    cli/        -> scrapesched.cli        command line and app wiring (builds clients once, hands them in)
    scrapers/   -> scrapesched.scrapers   GitHub and telemetry jobs, parsers, the one HTTP client
    scheduler/  -> scrapesched.scheduler  registry, claims, runs, recovery, the replica's loop
    locks/      -> scrapesched.locks      leases with renewal and fencing tokens
    db/         -> scrapesched.db         schema, the one upsert, the one retry policy, migrations
    config/     -> scrapesched.config     settings, errors, logging, redaction
    scrapesched/testing/                  test doubles (fake GitHub, ground truth, scratch databases)

Layers point one way (cli -> scrapers -> scheduler -> locks -> db -> config); import-linter checks it.
"""
