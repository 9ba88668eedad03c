"""Scheduler: the job registry, claimed runs, leases per shard, and the CLI that wires them together."""
