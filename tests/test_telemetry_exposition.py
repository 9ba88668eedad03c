"""Sample extraction from Prometheus text (prometheus_client's parser) and JSON dotted paths: pure functions."""

from __future__ import annotations

import pytest

from scrapesched.scrapers.parsers.exposition import (
    ExpositionError,
    Extraction,
    Sample,
    extract,
    parse_json,
    parse_prometheus,
    series_hash,
    with_labels,
)

EXPOSITION = """\
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="get",code="200"} 1027
http_requests_total{method="post",code="500"} 3
# TYPE temperature gauge
temperature 21.5
# TYPE latency histogram
latency_bucket{le="0.1"} 4
latency_bucket{le="+Inf"} 9
latency_sum 1.5
latency_count 9
"""


def test_prometheus_text_gives_every_sample_with_sorted_labels() -> None:
    got = parse_prometheus(EXPOSITION)
    by_name = {(s.name, s.labels): s.value for s in got.samples}
    assert by_name[("http_requests_total", (("code", "200"), ("method", "get")))] == 1027
    assert by_name[("http_requests_total", (("code", "500"), ("method", "post")))] == 3
    assert by_name[("temperature", ())] == 21.5
    assert by_name[("latency_bucket", (("le", "+Inf"),))] == 9
    assert by_name[("latency_count", ())] == 9
    assert len(got.samples) == 7 and got.errors == () and got.skipped_non_finite == 0


def test_label_order_does_not_change_a_series_identity() -> None:
    a = parse_prometheus('m{a="1",b="2"} 1\n').samples[0]
    b = parse_prometheus('m{b="2",a="1"} 1\n').samples[0]
    assert a.series_hash == b.series_hash == series_hash("m", {"b": "2", "a": "1"})
    assert a.labels_json == '{"a":"1","b":"2"}'
    assert series_hash("m", {"a": "1"}) != series_hash("m", {"a": "2"}) != series_hash("n", {"a": "2"})


def test_nan_and_infinite_values_are_skipped_and_counted() -> None:
    got = parse_prometheus("a NaN\nb +Inf\nc -Inf\nd 4\n")
    assert [(s.name, s.value) for s in got.samples] == [("d", 4.0)]
    assert got.skipped_non_finite == 3


def test_malformed_exposition_is_refused_naming_the_bad_line() -> None:
    text = "# TYPE ok gauge\nok 1\nthis line { is not exposition\nlater 2\n"
    with pytest.raises(ExpositionError, match=r"malformed Prometheus exposition at line 3 \('this line \{"):
        parse_prometheus(text)


@pytest.mark.parametrize(
    "body",
    ["<html><body>Service Unavailable</body></html>", "metric value_not_a_number\n", 'x{a="1" 3\n'],
)
def test_bodies_that_are_not_exposition_text_raise_a_one_line_error(body: str) -> None:
    with pytest.raises(ExpositionError) as info:
        parse_prometheus(body)
    assert "malformed Prometheus exposition" in str(info.value) and "\n" not in str(info.value)


def test_empty_exposition_has_no_samples_and_no_error() -> None:
    assert parse_prometheus("") == Extraction(samples=())


def test_json_paths_give_one_sample_each_with_booleans_as_one_and_zero() -> None:
    body = '{"queue": {"waiting": 12, "running": 2.5}, "workers": [{"busy": true}, {"busy": false}]}'
    got = parse_json(body, ["queue.waiting", "queue.running", "workers.0.busy", "workers.1.busy", "workers.-1.busy"])
    assert [(s.name, s.value) for s in got.samples] == [
        ("queue.waiting", 12.0),
        ("queue.running", 2.5),
        ("workers.0.busy", 1.0),
        ("workers.1.busy", 0.0),
        ("workers.-1.busy", 0.0),
    ]
    assert got.errors == ()


def test_non_numeric_and_missing_json_fields_are_errors_while_the_other_paths_count() -> None:
    body = '{"queue": {"waiting": "many", "running": 3, "meta": {"x": 1}, "none": null}, "list": [1]}'
    got = parse_json(body, ["queue.waiting", "queue.running", "queue.meta", "queue.none", "queue.gone", "list.5"])
    assert [(s.name, s.value) for s in got.samples] == [("queue.running", 3.0)]
    assert got.errors == (
        "queue.waiting: not numeric (a string)",
        "queue.meta: not numeric (an object)",
        "queue.none: not numeric (null)",
        "queue.gone: not found (no 'gone')",
        "list.5: not found (no '5')",
    )


def test_a_body_that_is_not_json_raises_naming_the_position() -> None:
    with pytest.raises(ExpositionError, match=r"body is not JSON: Expecting value: line 1 column 1"):
        parse_json("<html>oops</html>", ["a"])


def test_extract_dispatches_on_the_format() -> None:
    assert extract("prometheus", "a 1\n").samples == (Sample("a", (), 1.0),)
    assert extract("json", '{"a": 2}', ["a"]).samples == (Sample("a", (), 2.0),)
    with pytest.raises(ValueError, match="unknown exposition format"):
        extract("xml", "<a/>")  # type: ignore[arg-type]


def test_endpoint_labels_are_added_and_replace_scraped_labels_of_the_same_name() -> None:
    got = with_labels(parse_prometheus('m{env="scraped",x="1"} 5\n'), {"env": "prod", "endpoint": "api"})
    assert got.samples == (Sample("m", (("endpoint", "api"), ("env", "prod"), ("x", "1")), 5.0),)


def test_a_series_listed_twice_keeps_its_last_value() -> None:
    got = parse_prometheus("m 1\nm 2\n")
    assert got.samples == (Sample("m", (), 2.0),)
