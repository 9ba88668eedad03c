"""Telemetry: the per-host HTTP summary buffer and the endpoint sampling and rollup jobs."""
