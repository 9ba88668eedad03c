"""Scrapers: the one HTTP client, the GitHub and telemetry jobs, and the pure comment parsers."""
