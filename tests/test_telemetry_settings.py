"""The ``[telemetry]`` settings: endpoints from ``[[telemetry.endpoints]]``, durations, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from scrapesched.config.errors import ConfigError
from scrapesched.config.settings import Settings, load_settings
from scrapesched.scheduler.plan import build_plan
from scrapesched.scheduler.plugins import load_registry

CONFIG = """
[telemetry]
flush_interval = "5s"

[retention]
samples = "3d"
batch_size = 1000

[[telemetry.endpoints]]
name = "api"
url = "http://127.0.0.1:9100/metrics"
interval = "1m"
timeout = "2s"
labels = { env = "prod" }

[[telemetry.endpoints]]
name = "queue"
url = "http://127.0.0.1:9200/stats.json"
format = "json"
paths = ["jobs.waiting", "workers.0.busy"]
"""


def _load(tmp_path: Path, body: str) -> Settings:
    path = tmp_path / "c.toml"
    path.write_text(body)
    return load_settings(path)


def test_endpoints_come_from_telemetry_endpoints_tables_with_durations_parsed(tmp_path: Path) -> None:
    settings = _load(tmp_path, CONFIG)
    t, r = settings.telemetry, settings.retention
    assert t.flush_interval == 5.0 and r.samples == 3 * 86400 and r.batch_size == 1000
    api, queue = t.endpoints
    assert (api.name, api.format, api.interval, api.timeout, api.labels) == ("api", "prometheus", 60.0, 2.0,
                                                                              {"env": "prod"})
    assert (queue.format, queue.paths, queue.interval) == ("json", ["jobs.waiting", "workers.0.busy"], None)
    assert t.endpoint("queue") is queue and t.endpoint("nope") is None


def test_the_endpoints_are_the_shards_of_http_telemetry(tmp_path: Path) -> None:
    settings = _load(tmp_path, CONFIG)
    plan = {p.name: p for p in build_plan(settings, load_registry())}
    assert plan["http_telemetry"].shards == ["api", "queue"]
    assert plan["telemetry_rollup"].shards == [""] and plan["retention"].shards == [""]
    assert plan["telemetry_rollup"].params == {"lookback_hours": 2, "max_hours": 48}


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ('name = "q"\nurl = "http://h/x"\nformat = "json"', "format json needs paths"),
        ('name = "q"\nurl = "http://h/x"\npaths = ["a"]', "paths only apply to format json"),
        ('name = "q"\nurl = "ftp://h/x"', "is not an http:// or https:// URL"),
        ('name = "a b"\nurl = "http://h/x"', "is not an endpoint name"),
        ('name = "q"\nurl = "http://h/x"\ntimeout = "soon"', "is not a duration"),
        ('name = "q"\nurl = "http://h/x"\nlabels = { endpoint = "x" }', "set from the endpoint's name"),
        ('name = "q"\nurl = "http://h/x"\nformat = "xml"', "telemetry.endpoints.0.format"),
        ('name = "q"\nurl = "http://h/x"\ncolour = "red"', "unknown setting 'telemetry.endpoints.0.colour'"),
    ],
)
def test_a_bad_endpoint_is_a_config_error_naming_it(tmp_path: Path, endpoint: str, message: str) -> None:
    with pytest.raises(ConfigError, match="telemetry") as info:
        _load(tmp_path, f"[[telemetry.endpoints]]\n{endpoint}\n")
    assert message in str(info.value)


def test_two_endpoints_with_one_name_are_refused(tmp_path: Path) -> None:
    one = '[[telemetry.endpoints]]\nname = "a"\nurl = "http://h/1"\n'
    body = one + one.replace("/1", "/2")
    with pytest.raises(ConfigError, match="endpoint name 'a' is used twice"):
        _load(tmp_path, body)
