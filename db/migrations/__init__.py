"""Alembic migrations shipped inside the package; applied by ``scrapesched migrate`` (see ``db.migrate``)."""
