"""Test doubles shipped for the tests, the benchmarks and ``scrapesched demo`` (like ``sqlalchemy.testing``):
a fake GitHub served over real HTTP, its ground truth, scratch databases and a fleet launcher. No product
module imports this package (import-linter checks it); only the ``demo`` command does."""
