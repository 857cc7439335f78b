"""The HTTP source against a real HTTP server (tests/servers.py): every pagination style,
the auth header, retries after injected 429/500 and resuming without duplicates."""

from __future__ import annotations

import json
import threading
import time

import pytest

from ledgerlake.client.ingest.http import HttpSource
from ledgerlake.errors import SourceError
from servers import http_api  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

TOKEN = "Bearer s3cret-api-token"

STYLES = {
    "next link in the body": ("/cursor", {"items_path": "data.items", "next_path": "next"}),
    "cursor token": ("/token", {"items_path": "results", "next_path": "meta.next_cursor",
                                "next_param": "after"}),
    "Link header": ("/link", {}),
    "page numbers": ("/pages", {"items_path": "items", "page_param": "page"}),
    "offsets": ("/offset", {"items_path": "items", "offset_param": "offset",
                            "limit_param": "limit", "limit": 4}),
}


def numbers(rows):
    return [row.record["n"] for row in rows]


def make(api, path, **kwargs) -> HttpSource:
    kwargs.setdefault("auth_header", TOKEN)
    kwargs.setdefault("backoff", 0.01)
    return HttpSource(api.url + path, **kwargs)


@pytest.mark.parametrize("style", STYLES)
def test_every_item_once_and_a_resume_from_any_position_continues_without_duplicates(
        http_api, style):
    path, options = STYLES[style]
    http_api.state.items = [{"n": i} for i in range(10)]
    with make(http_api, path, **options) as source:
        rows = list(source.rows())
        assert numbers(rows) == list(range(10))
        for i, row in enumerate(rows):
            stored = json.loads(json.dumps(row.position))
            assert numbers(source.rows(after=stored)) == list(range(i + 1, 10)), row.position
    assert all(auth == TOKEN for _, auth in http_api.state.requests)


def test_a_resume_at_the_end_picks_up_items_added_since(http_api):
    http_api.state.items = [{"n": i} for i in range(5)]
    with make(http_api, "/cursor", items_path="data.items", next_path="next") as source:
        last = list(source.rows())[-1].position
        http_api.state.items += [{"n": 5}, {"n": 6}]
        assert numbers(source.rows(after=last)) == [5, 6]


def test_429_and_5xx_are_retried_honouring_retry_after(http_api):
    http_api.state.items = [{"n": i} for i in range(4)]
    http_api.state.faults = [429, 500, 503]
    http_api.state.retry_after = "1"
    started = time.monotonic()
    with make(http_api, "/link") as source:
        assert numbers(source.rows()) == [0, 1, 2, 3]
    assert time.monotonic() - started >= 1.0  # the 429 said: wait one second
    assert len(http_api.state.requests) == 3 + 2  # three refused, then two pages


def test_retries_give_up_with_a_source_error_naming_the_last_status(http_api):
    http_api.state.faults = [502] * 5
    with make(http_api, "/link", retries=2) as source:
        with pytest.raises(SourceError, match="failed 3 times; last: 502 Bad Gateway"):
            list(source.rows())
    assert len(http_api.state.requests) == 3


def test_a_refused_request_is_not_retried_and_the_token_never_shows(http_api):
    with make(http_api, "/link", auth_header="Bearer wrong-hunter2") as source:
        with pytest.raises(SourceError) as caught:
            list(source.rows())
    text = str(caught.value)
    assert "401 Unauthorized" in text and "auth header" in text and "hunter2" not in text
    assert len(http_api.state.requests) == 1
    with make(http_api, "/nowhere") as source:
        with pytest.raises(SourceError, match="404"):
            list(source.rows())


def test_a_connection_refused_is_retried_then_reported(http_api):
    http_api.stop()
    with make(http_api, "/link", retries=1) as source:
        with pytest.raises(SourceError, match="failed 2 times; last: ConnectError"):
            list(source.rows())


def test_bad_items_are_rows_with_errors_and_a_bad_page_stops(http_api):
    http_api.state.items = [{"n": 0}, [1, 2], "x", {"n": 3}]
    http_api.state.page_size = 10
    with make(http_api, "/link") as source:
        rows = list(source.rows())
    assert [r.error for r in rows] == [None, "the item is a list, not a JSON object",
                                       "the item is a str, not a JSON object", None]
    assert rows[1].where == "item 1 of page /link" and rows[1].record is None
    with make(http_api, "/broken") as source:
        with pytest.raises(SourceError, match="must be JSON"):
            list(source.rows())


def test_stop_during_a_back_off_ends_the_rows_promptly(http_api):
    http_api.state.faults = [503] * 3
    http_api.state.retry_after = "30"
    with make(http_api, "/link") as source:
        threading.Timer(0.3, source.stop).start()
        started = time.monotonic()
        assert list(source.rows()) == []
        assert time.monotonic() - started < 5
