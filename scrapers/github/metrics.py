"""The GitHub rate-limit budget on ``/metrics``, read from the ``RateBudget`` at scrape time.

Series are per ``token_id``: the budget's name of a credential (a SHA-256 prefix of a token, ``app-<id>``
for a GitHub App installation, ``anonymous``), never the token itself. ``remaining`` is what the whole fleet
saw (the budget shares observations through the ``rate_limits`` table); waits and deferrals are this
replica's own counters.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scrapesched.scrapers.github.budget import RateBudget

TOKEN_LABEL = "token_id"


class BudgetCollector(Collector):
    """``scrapesched_github_*`` budget gauges and counters of one process's GitHub client."""

    def __init__(self, budget: RateBudget) -> None:
        self._budget = budget

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        snap = self._budget.snapshot()
        remaining, limit, reset, waits, wait_seconds, deferred = self._families()
        for token_id, obs in snap.current.items():
            remaining.add_metric([token_id], obs.remaining)
            if obs.limit is not None:
                limit.add_metric([token_id], obs.limit)
            reset.add_metric([token_id], obs.reset)
        for (token_id, reason), (count, seconds) in sorted(snap.waits.items()):
            waits.add_metric([token_id, reason], count)
            wait_seconds.add_metric([token_id, reason], seconds)
        for token_id, count in sorted(snap.deferred.items()):
            deferred.add_metric([token_id], count)
        yield from (remaining, limit, reset, waits, wait_seconds, deferred)

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, CounterMetricFamily, CounterMetricFamily,
        CounterMetricFamily,
    ]:
        by_token, by_reason = [TOKEN_LABEL], [TOKEN_LABEL, "reason"]
        return (
            GaugeMetricFamily(
                "scrapesched_github_budget_remaining",
                "Requests left in the current rate-limit window (lowest any replica saw).",
                labels=by_token,
            ),
            GaugeMetricFamily(
                "scrapesched_github_budget_limit", "Requests allowed per rate-limit window.", labels=by_token
            ),
            GaugeMetricFamily(
                "scrapesched_github_budget_reset_timestamp_seconds",
                "Unix time the current rate-limit window resets.",
                labels=by_token,
            ),
            CounterMetricFamily(
                "scrapesched_github_rate_limit_waits",
                "Waits before a GitHub request, by reason (pacing, primary_exhausted, secondary_limit).",
                labels=by_reason,
            ),
            CounterMetricFamily(
                "scrapesched_github_rate_limit_wait_seconds",
                "Seconds spent waiting before GitHub requests, by reason.",
                labels=by_reason,
            ),
            CounterMetricFamily(
                "scrapesched_github_deferred",
                "Requests not made because the budget needed a wait longer than github.max_wait: each stops its"
                " run's stream, and the next run resumes from the cursor.",
                labels=by_token,
            ),
        )
