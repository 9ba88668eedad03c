"""Database layer: schema, engines, the upsert path, the retry policy, and migrations.

``db.upsert`` writes rows by their natural key (scraped data, cursors, ETags, rate limits, telemetry);
``db.transaction`` is the only way a transaction is retried. Other writes are plain INSERTs, conditional
UPDATEs and DELETEs in the module that owns the table: runs in ``scheduler.runs``, leases and fencing tokens
in ``locks``, rows a newer snapshot no longer has in the scrapers, old rows in the retention job.
"""

from scrapesched.db.engine import connect_engine
from scrapesched.db.retry import is_retryable, transaction
from scrapesched.db.upsert import UpsertResult, upsert

__all__ = ["UpsertResult", "connect_engine", "is_retryable", "transaction", "upsert"]
