"""Database layer: schema, engines, the upsert path, the retry policy, and migrations.

``db.upsert.upsert`` writes rows by their natural key (scraped data, cursors, ETags, rate limits, telemetry);
``db.retry.transaction`` is the only way a transaction is retried. Other writes are plain INSERTs, conditional
UPDATEs and DELETEs in the module that owns the table: runs in ``scheduler.runs``, leases and fencing tokens
in ``locks``, rows a newer snapshot no longer has in the scrapers, old rows in the retention job.

The package imports none of its modules: each is imported by what uses it, so a command that only reads
(``status``) never loads the upsert path.
"""
