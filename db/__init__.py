"""Database layer: schema, engines, the one upsert path, the one retry policy, and migrations.

``db.upsert`` is the only way rows are written; ``db.transaction`` the only way a transaction is retried.
"""

from scrapesched.db.engine import connect_engine
from scrapesched.db.retry import is_retryable, transaction
from scrapesched.db.upsert import UpsertResult, upsert

__all__ = ["UpsertResult", "connect_engine", "is_retryable", "transaction", "upsert"]
