"""``python -m scrapesched``: the same as the ``scrapesched`` console script."""

from scrapesched.cli.main import run

run()
