"""The HTTP source's pure logic: JSON paths, headers, Retry-After, back-off and the next
page of each pagination style. Reading a real server: tests/integration/test_sources_http.py."""

from __future__ import annotations

import email.utils
import random

import httpx
import pytest

from ledgerlake.client.ingest.http import (HttpSource, at_path, backoff_delay, from_cli,
                                           parse_headers, retry_after)
from ledgerlake.errors import ConfigError, RecordError

BODY = {"data": {"items": [{"a": 1}, {"a": 2}], "next": None}, "pages": [[{"b": 1}]]}


def test_json_paths_reach_objects_and_list_elements():
    assert at_path(BODY, "data.items", "p") == [{"a": 1}, {"a": 2}]
    assert at_path(BODY, "$.data.items", "p") == [{"a": 1}, {"a": 2}]
    assert at_path(BODY, "pages.0", "p") == [{"b": 1}]
    assert at_path(BODY, "pages.-1.0.b", "p") == 1
    assert at_path(BODY, "", "p") is BODY and at_path(BODY, None, "p") is BODY
    assert at_path(BODY, "data.next", "p") is None
    assert at_path(BODY, "data.missing.deeper", "p") is None
    assert at_path(BODY, "pages.5", "p") is None
    with pytest.raises(RecordError, match="'data.items.a' goes through a list"):
        at_path(BODY, "data.items.a", "p")
    with pytest.raises(RecordError, match="goes through a int"):
        at_path({"n": 1}, "n.x", "p")


def test_headers_come_from_a_mapping_or_name_value_strings_and_errors_hide_values():
    assert parse_headers(["Authorization: Bearer a:b", "X-Key:  k "]) == {
        "Authorization": "Bearer a:b", "X-Key": "k"}
    assert parse_headers("Accept: application/json") == {"Accept": "application/json"}
    assert parse_headers({"A": 1}) == {"A": "1"}
    assert parse_headers(None) == {}
    for bad in ("Bearer hunter2", ": hunter2", "Bad Name: hunter2"):
        with pytest.raises(ConfigError) as caught:
            parse_headers([bad])
        assert "hunter2" not in str(caught.value)


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after("7") == 7.0
    assert retry_after(" 0 ") == 0.0
    now = 1_800_000_000.0
    assert retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    for nothing in (None, "", "soon", "-5"):
        assert retry_after(nothing) is None


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(7)
    for attempt, (low, high) in enumerate([(0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0)]):
        delays = [backoff_delay(attempt, 0.5, 30, rng) for _ in range(200)]
        assert low <= min(delays) and max(delays) <= high
        assert max(delays) - min(delays) > (high - low) / 2  # jittered, not fixed
    assert max(backoff_delay(30, 0.5, 3.0, rng) for _ in range(50)) <= 3.0


def source(**kwargs) -> HttpSource:
    return HttpSource("https://api.example.com/v1/items?kind=x", **kwargs)


def test_next_page_of_each_pagination_style():
    url = httpx.URL("https://api.example.com/v1/items?kind=x&page=2")
    body = {"next": "/v1/items?cursor=abc", "meta": {"cursor": "tok"}}
    assert str(source(next_path="next").next_url(url, body, {}, 3)) == \
        "https://api.example.com/v1/items?cursor=abc"
    assert str(source(next_path="meta.cursor", next_param="after").next_url(url, body, {}, 3)) \
        == "https://api.example.com/v1/items?kind=x&page=2&after=tok"
    assert source(next_path="gone").next_url(url, body, {}, 3) is None
    with pytest.raises(RecordError, match="give next_param"):
        source(next_path="meta").next_url(url, body, {}, 3)
    pages = source(page_param="page")
    assert str(pages.next_url(url, body, {}, 3)) == \
        "https://api.example.com/v1/items?kind=x&page=3"
    assert pages.next_url(url, body, {}, 0) is None
    offsets = source(offset_param="offset", limit_param="limit", limit=50)
    first = offsets.first_url()
    assert str(first) == "https://api.example.com/v1/items?kind=x&offset=0&limit=50"
    assert str(offsets.next_url(first, [], {}, 50)) == \
        "https://api.example.com/v1/items?kind=x&offset=50&limit=50"
    links = {"next": {"url": "/v1/items?page=9", "rel": "next"}}
    assert str(source().next_url(url, [], links, 3)) == "https://api.example.com/v1/items?page=9"
    assert source().next_url(url, [], {}, 3) is None
    assert str(source(page_param="p", first_page=0).first_url()).endswith("kind=x&p=0")


@pytest.mark.parametrize("kwargs, message", [
    ({"next_path": "n", "page_param": "p"}, "one pagination style"),
    ({"next_param": "after"}, "next_param needs next_path"),
    ({"limit_param": "limit"}, "limit_param and limit together"),
    ({"limit_param": "l", "limit": 0}, "positive integer"),
    ({"retries": -1}, "retries"),
])
def test_contradictory_options_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        source(**kwargs)


@pytest.mark.parametrize("url", ["ftp://x/y", "not a url", "https://", "/relative"])
def test_a_url_that_is_not_http_is_a_config_error(url):
    with pytest.raises(ConfigError, match="URL"):
        HttpSource(url)


def test_source_id_and_cli_options():
    s = from_cli("https://api.example.com/v1/items?key=secret",
                 {"header": ["Authorization: Bearer t"], "items_path": "data",
                  "page_param": "page", "first_page": "0", "retries": "2", "timeout": "5"})
    assert s.source_id() == "http.api.example.com.v1.items"
    assert (s.first_page, s.retries, s.items_path, s.headers) == (
        0, 2, "data", {"Authorization": "Bearer t"})
    with pytest.raises(ConfigError, match="--limit must be an integer"):
        from_cli("https://h/x", {"limit": "ten"})
