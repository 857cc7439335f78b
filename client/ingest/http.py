"""Records from a paginated JSON HTTP API.

``HttpSource(url, headers=…, items_path=…, <pagination>)`` GETs one page after another and
yields each item found at ``items_path`` in the page's JSON body. Pagination styles, chosen
by which option is given (at most one):

- ``next_path``: the body holds the next page at that path: a URL, absolute or relative to
  the page (``{"next": "/items?cursor=abc"}``); with ``next_param`` too it is a cursor token
  sent as that query parameter (``{"meta": {"next_cursor": "abc"}}`` → ``?after=abc``). An
  absent, null or empty value ends.
- ``page_param``: a page number in that query parameter, from ``first_page`` (or the number
  already in the URL) upwards; an empty page ends.
- ``offset_param``: an item offset in that query parameter, advanced by each page's item
  count (``limit_param`` + ``limit`` add a page size); an empty page ends.
- none of these: the standard ``Link: <…>; rel="next"`` header, else the one page.

A path is dotted names and list indices: ``data.items``, ``results.0.rows``; ``""`` (or
``$``) is the body itself, the default, which must then be a list.

Position: the page's URL and the index of the item in it. A resume GETs that page again and
continues after the item, so nothing is read twice as long as the page's URL still gives the
same items (cursor and Link styles do; page and offset styles over data that is inserted
before the position shift, and a resume may repeat or skip items: prefer a cursor API).

Failures: connection errors, timeouts, 429 and 5xx are retried ``retries`` times with
exponential back-off and jitter (a 429's or 503's ``Retry-After`` is honoured, up to
``max_wait`` seconds); another 4xx is a SourceError at once, naming the status. Headers (the
auth header above all) are never logged nor put in an error message.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from typing import Any, Iterator, Mapping, Sequence

from ledgerlake.errors import ConfigError, RecordError, SourceError
from ledgerlake.records import parse_json

from .source import Row, derived_source_id

KIND = "http"
SCHEMES = ("http", "https")
#: the options ``from_cli`` takes (CLI: --header (repeatable), --items-path, --next-path,
#: --next-param, --page-param, --first-page, --offset-param, --limit-param, --limit,
#: --retries, --timeout)
CLI_OPTIONS = ("header", "items_path", "next_path", "next_param", "page_param", "first_page",
               "offset_param", "limit_param", "limit", "retries", "timeout")


# -- pure helpers --------------------------------------------------------------------------------
def at_path(body: Any, path: str | None, what: str) -> Any:
    """The value at dotted ``path`` in ``body`` (None when a step is absent); RecordError
    when a step goes through something that is neither an object nor a list."""
    if path in (None, "", "$"):
        return body
    value = body
    for step in path.removeprefix("$.").split("."):
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.lstrip("-").isdigit():
            index = int(step)
            value = value[index] if -len(value) <= index < len(value) else None
        elif value is None:
            return None
        else:
            raise RecordError(f"{what}: {path!r} goes through a {type(value).__name__}")
    return value


def parse_headers(headers: Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    """Headers from a mapping or ``"Name: value"`` strings (the CLI's --header)."""
    if headers is None:
        return {}
    if isinstance(headers, Mapping):
        return {str(k): str(v) for k, v in headers.items()}
    if isinstance(headers, str):
        headers = [headers]
    parsed = {}
    for text in headers:
        name, sep, value = str(text).partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            raise ConfigError("a header must look like 'Name: value', e.g. "
                              "'Authorization: Bearer TOKEN'")  # never echo: may be a secret
        parsed[name.strip()] = value.strip()
    return parsed


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential back-off with jitter: a random wait in [½, 1] × min(cap, base·2^attempt)."""
    delay = min(cap, base * 2 ** attempt)
    return rng.uniform(delay / 2, delay)


def _shown(url) -> str:
    """A URL for messages: scheme, host and path (a query may hold a key or a cursor)."""
    import httpx
    url = httpx.URL(str(url))
    return str(url.copy_with(query=None, fragment=None))


class HttpSource:
    """Items of a paginated JSON API (see the module docstring). Raises ConfigError for
    contradictory options; ``rows()`` raises SourceError when the API refuses a request,
    keeps failing after the retries or answers something that is not JSON."""

    kind = KIND

    def __init__(self, url: str, *, headers: Mapping[str, str] | Sequence[str] | None = None,
                 auth_header: str | None = None, items_path: str | None = None,
                 next_path: str | None = None, next_param: str | None = None,
                 page_param: str | None = None, first_page: int | None = None,
                 offset_param: str | None = None, limit_param: str | None = None,
                 limit: int | None = None, retries: int = 5, backoff: float = 0.5,
                 max_backoff: float = 30.0, max_wait: float = 300.0, timeout: float = 30.0,
                 rng: random.Random | None = None):
        import httpx
        try:
            self.url = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise ConfigError("the HTTP source URL is not a URL like "
                              "https://api.example.com/v1/items") from None
        if self.url.scheme not in SCHEMES or not self.url.host:
            raise ConfigError(f"the HTTP source URL must be http(s)://host/…, not "
                              f"{_shown(self.url)}")
        styles = [name for name, value in (("next_path", next_path), ("page_param", page_param),
                                           ("offset_param", offset_param)) if value]
        if len(styles) > 1:
            raise ConfigError(f"give one pagination style, not {' and '.join(styles)}")
        if next_param and not next_path:
            raise ConfigError("next_param needs next_path: where the body holds the cursor")
        if (limit_param is None) != (limit is None):
            raise ConfigError("give limit_param and limit together")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ConfigError("limit must be a positive integer")
        if not isinstance(retries, int) or retries < 0:
            raise ConfigError("retries must be a non-negative integer")
        if not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
            raise ConfigError("timeout (--timeout) must be a positive number of seconds")
        self.headers = parse_headers(headers)
        if auth_header is not None:
            self.headers["Authorization"] = auth_header
        self.items_path = items_path
        self.next_path, self.next_param = next_path, next_param
        self.page_param, self.first_page = page_param, first_page
        self.offset_param, self.limit_param, self.limit = offset_param, limit_param, limit
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self.max_wait = max_wait
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._client = httpx.Client(headers=self.headers, timeout=timeout,
                                    follow_redirects=True)

    # -- pages ---------------------------------------------------------------------------------
    def first_url(self):
        url = self.url
        if self.page_param and self.page_param not in url.params:
            url = url.copy_set_param(self.page_param,
                                     str(1 if self.first_page is None else self.first_page))
        if self.offset_param and self.offset_param not in url.params:
            url = url.copy_set_param(self.offset_param, "0")
        if self.limit_param:
            url = url.copy_set_param(self.limit_param, str(self.limit))
        return url

    def next_url(self, url, body: Any, response_links: Mapping, count: int):
        """The URL of the page after ``url`` (whose body is ``body`` with ``count`` items),
        or None at the end."""
        import httpx
        if self.next_path:
            value = at_path(body, self.next_path, f"the page {_shown(url)}")
            if value in (None, "", False):
                return None
            if self.next_param:
                return url.copy_set_param(self.next_param, str(value))
            if not isinstance(value, str):
                raise RecordError(f"the page {_shown(url)}: {self.next_path!r} holds a "
                                  f"{type(value).__name__}, not a URL (a cursor token? "
                                  f"give next_param)")
            return url.join(value)
        if self.page_param or self.offset_param:
            if count == 0:
                return None
            param = self.page_param or self.offset_param
            try:
                current = int(url.params[param])
            except ValueError:
                raise RecordError(f"the query parameter {param!r} of {_shown(url)} is not "
                                  f"an integer") from None
            return url.copy_set_param(param, str(current + (1 if self.page_param else count)))
        link = response_links.get("next", {}).get("url")
        return httpx.URL(url).join(link) if link else None

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopped()

    def fetch(self, url):
        """GET ``url`` with retries; the response of a 2xx."""
        import httpx
        last = ""
        for attempt in range(self.retries + 1):
            wait = backoff_delay(attempt, self.backoff, self.max_backoff, self._rng)
            try:
                response = self._client.get(url)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {str(exc)[:120] or 'no detail'}"
            else:
                status = response.status_code
                if status < 400:
                    return response
                last = f"{status} {response.reason_phrase}"
                if status == 429 or status >= 500:
                    told = retry_after(response.headers.get("Retry-After"))
                    if told is not None:
                        wait = min(told, self.max_wait)
                else:
                    hint = (" (check the auth header: --header 'Authorization: …')"
                            if status in (401, 403) else "")
                    raise SourceError(f"GET {_shown(url)} answered {last}{hint}")
            if attempt == self.retries:
                break
            self._sleep(wait)
        raise SourceError(f"GET {_shown(url)} failed {self.retries + 1} times; last: {last}")

    # -- Source protocol -------------------------------------------------------------------
    def source_id(self) -> str:
        return derived_source_id(f"http.{self.url.host}{self.url.path}".replace("/", "."))

    def rows(self, after: Any | None = None) -> Iterator[Row]:
        """Items after position ``after`` (page URL + index), page by page; ends after the
        last page, or soon after ``stop()`` (called before, it ends the next ``rows()``)."""
        import httpx
        if after is None:
            url, skip_through = self.first_url(), -1
        else:
            if (not isinstance(after, Mapping) or not isinstance(after.get("url"), str)
                    or not isinstance(after.get("index"), int)):
                raise ConfigError(f"bad HTTP source position {after!r}: expected the "
                                  f"position an HTTP source gave")
            url, skip_through = httpx.URL(after["url"]), after["index"]
        try:
            while url is not None and not self._stop.is_set():
                response = self.fetch(url)
                shown = _shown(url)
                try:
                    body = parse_json(response.content, f"the page {shown}")
                    items = at_path(body, self.items_path, f"the page {shown}")
                    if items is None and self.items_path:
                        items = []  # a last page without the list
                    if not isinstance(items, list):
                        where = f"at {self.items_path!r}" if self.items_path else "itself"
                        raise RecordError(f"the page {shown} {where} is a "
                                          f"{type(items).__name__}, not a list of records "
                                          f"(give the items path)")
                    nxt = self.next_url(url, body, response.links, len(items))
                except RecordError as exc:
                    raise SourceError(str(exc)) from None
                page = str(url)
                place = url.raw_path.decode("ascii", "replace")
                for index, item in enumerate(items):
                    if index <= skip_through:
                        continue
                    where = f"item {index} of page {place}"
                    position = {"url": page, "index": index}
                    if isinstance(item, dict):
                        yield Row(item, where, position)
                    else:
                        yield Row(None, where, position,
                                  error=f"the item is a {type(item).__name__}, "
                                        f"not a JSON object")
                    if self._stop.is_set():
                        return
                skip_through = -1
                url = nxt
        except _Stopped:
            return
        finally:
            self._stop.clear()  # stop() ends this rows() (or the next, if called before)

    def committed(self, position: Any) -> None:
        """Nothing to acknowledge: the position alone says what was read."""

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "HttpSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Stopped(Exception):
    """stop() was called while waiting to retry."""


def from_cli(spec: str, options: Mapping[str, Any]) -> HttpSource:
    """``SOURCE`` is the first page's URL; options: ``header`` ("Name: value", repeatable),
    ``items_path``, one of ``next_path`` (+ ``next_param``) / ``page_param`` (+
    ``first_page``) / ``offset_param``, ``limit_param`` + ``limit``, ``retries``,
    ``timeout``."""
    numbers = {}
    for name in ("first_page", "limit", "retries"):
        if options.get(name) is not None:
            try:
                numbers[name] = int(options[name])
            except (TypeError, ValueError):
                raise ConfigError(f"--{name.replace('_', '-')} must be an integer") from None
    if options.get("timeout") is not None:
        try:
            numbers["timeout"] = float(options["timeout"])
        except (TypeError, ValueError):
            raise ConfigError("--timeout must be a positive number of seconds") from None
    return HttpSource(spec, headers=options.get("header"), items_path=options.get("items_path"),
                      next_path=options.get("next_path"), next_param=options.get("next_param"),
                      page_param=options.get("page_param"),
                      offset_param=options.get("offset_param"),
                      limit_param=options.get("limit_param"), **numbers)
