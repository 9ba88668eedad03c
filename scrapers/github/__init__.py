"""GitHub: the client (auth, ETags, rate-limit budget), incremental sync, rows and writes, and the GitHub jobs."""
