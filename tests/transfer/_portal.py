"""A REST "data portal" on 127.0.0.1 for the transfer tests.

It serves files from a directory through a paginated JSON listing, accepts uploads, enforces
one authentication method at a time, issues short-lived OAuth2 tokens and injects faults
(503, dropped connections, truncated bodies) on request. It is written from the protocol
specifications, independently of stratoflow's client code.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

USER, PASSWORD = "alice", "pw-basic-Zq81"
BEARER = "tok-bearer-K2m9"
API_KEY = "key-api-R7x4"
CLIENT_ID, CLIENT_SECRET = "stratoflow", "cs-oauth-P5w3"
PASSPHRASE = "pp-hash-L0v6"
#: the start of every signature in a signed link (see ``Portal.signed_names``)
SIGNATURE = "sig-Q7xT-"
STAMP_FORMAT = "%Y%m%d%H%M%S"


@dataclass
class Portal:
    """Configuration and observable state of the portal."""

    root: Path
    auth: str = "none"
    page_size: int = 2
    token_uses: int = 1_000_000  # requests a token is good for
    token_lifetime: int = 3600  # the announced expires_in
    skew_tolerance: timedelta = timedelta(minutes=5)
    faults: dict[str, list[str]] = field(default_factory=dict)  # file name -> actions, in order
    tokens: dict[str, int] = field(default_factory=dict)
    tokens_issued: int = 0
    refused: int = 0
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: fault "hold" waits until this is set (at most 20 s): a download kept in progress
    gate: threading.Event = field(default_factory=threading.Event)
    #: answer ``Range`` requests (206, with a strong ETag and ``If-Range``), as most do
    ranges: bool = False
    #: the ``Range`` header of each file request, in order (None: the whole file)
    range_requests: list[str | None] = field(default_factory=list)
    #: page with an opaque cursor (``{"next_cursor": ...}``, asked as ``?cursor=``) instead
    #: of a next link
    cursor: bool = False
    #: the status of every HEAD request (e.g. 403, as S3 answers HEAD on a URL signed for
    #: GET), or None to answer it properly
    head_status: int | None = None
    #: pages overlap by one item (page-number paging while a file is added at the front)
    overlap: bool = False
    #: serve ``*.gz`` files with ``Content-Encoding: gzip`` (Apache's ``AddEncoding``)
    gz_as_encoding: bool = False
    #: compress downloads on the fly for clients that accept gzip (nginx ``gzip on``)
    compress: bool = False
    #: file name -> (time until which it is refused, HTTP status, Retry-After as a date?)
    busy: dict[str, tuple[float, int, bool]] = field(default_factory=dict)
    #: file name -> the ``Content-Disposition`` header its downloads are sent with
    disposition: dict[str, str] = field(default_factory=dict)
    #: list items by number only (no name), downloaded from ``/download?id=<number>``
    by_id: bool = False
    #: the most bytes one 206 answer carries (0: no limit), as CDNs that cap ranges do
    range_cap: int = 0
    #: answer ``Range`` whatever ``If-Range`` says (a server that ignores it)
    ignore_if_range: bool = False
    #: send the listing a byte every 0.1 s (never silent long enough for a timeout)
    trickle_listing: bool = False
    #: the listing lives at ``/api/files/``: ``/api/files`` is redirected there (301) with
    #: the query string kept, as Django's APPEND_SLASH does (an API key in it included)
    append_slash: bool = False
    #: put the listing request's ``api_key`` back into every item's link, in its query
    #: string ("query": ``/files/f.nc?api_key=K``) or in its path ("path":
    #: ``/keyed/K/files/f.nc``), as some portals do
    key_in_links: str = ""
    #: seconds the portal's clock is ahead of this machine's (negative: behind): its
    #: ``Date`` headers say so; its files' times are whatever the test gives them
    clock_offset: float = 0.0
    #: answer HEAD and GET with ``Last-Modified`` = the time of the answer, as portals that
    #: generate downloads on request do; plus ``stamp_offset`` seconds (a script whose clock
    #: is behind the server's, which sends the ``Date``: negative)
    generated: bool = False
    stamp_offset: float = 0.0
    #: how many times as fast as this machine's the portal's clock runs (its ``Date`` and
    #: generated ``Last-Modified``) since it ``started`` (this machine's time): answers
    #: milliseconds apart are seconds apart by it (0: it stands still)
    clock_rate: float = 1.0
    started: float = field(default_factory=time.time)
    #: list every file under a signed link as its name and link (``f.nc?X-Amz-Credential=
    #: ...&X-Amz-Signature=...``), signed anew for every listing, as portals that hand out
    #: presigned S3 links do; the signature starts with :data:`SIGNATURE`
    signed_names: bool = False
    #: seconds each HEAD takes to answer (a distant portal); with ``heads_at_once`` and
    #: ``most_heads_at_once``: how many HEADs were being answered at the same moment
    head_delay: float = 0.0
    heads_at_once: int = 0
    most_heads_at_once: int = 0
    #: answer 429 (Retry-After: 0) to a HEAD that comes while this many are being answered
    #: (0: no limit), as a portal that allows one request at a time does
    head_limit: int = 0
    #: answer 429 (Retry-After: 0) to this many HEADs before answering again, as a portal
    #: busy for a moment does
    head_busy: int = 0
    #: send a new ETag with every answer to a file's HEAD or GET, as some portals do: "weak"
    #: (``W/"r<n>"``, a request id) or "strong" (``"<digest>-<n>"``, a download generated
    #: on request); the ETag then never matches an ``If-Range``
    fresh_etags: str = ""
    etags_made: int = 0
    #: a query string appended to every item's link, made anew for every listing page:
    #: ``{n}`` is the number of that listing, ``{token}`` a token handed out with it (a file
    #: is then served, ``HEAD`` and ``GET``, only with a token handed out: 403 otherwise), as
    #: portals whose links carry a download token, a session or a signature do
    link_query: str = ""
    tokens_handed: set[str] = field(default_factory=set)
    #: list each file under a link that only a token of its own names
    #: (``/download?token=<the file's token>``), as file-sharing portals do
    links_by_token: bool = False
    listings: int = 0
    url: str = ""

    def now(self) -> float:
        """The portal's time (see ``clock_offset`` and ``clock_rate``)."""
        real = time.time()
        return self.started + (real - self.started) * self.clock_rate + self.clock_offset

    def etag(self, data: bytes) -> str:
        """The ``ETag`` of an answer carrying (the headers of) ``data``: its digest, or a new
        one for every answer (see ``fresh_etags``)."""
        digest = hashlib.sha256(data).hexdigest()[:20]
        if not self.fresh_etags:
            return f'"{digest}"'
        with self.lock:
            self.etags_made += 1
            made = self.etags_made
        return f'W/"r{made}"' if self.fresh_etags == "weak" else f'"{digest}-{made}"'

    def file_token(self, name: str) -> str:
        """The token that names the file ``name`` in its link (see ``links_by_token``)."""
        return hashlib.sha256(name.encode()).hexdigest()[:16]

    def token_refused(self, query: dict[str, list[str]]) -> bool:
        """Whether a file asked with ``query`` lacks a token handed out (``link_query``)."""
        if "{token}" not in self.link_query:
            return False
        with self.lock:
            return (query.get("token") or [""])[0] not in self.tokens_handed

    def link(self, name: str, query: dict[str, list[str]], token: str = "") -> str:
        """The download link of the file ``name`` in a listing asked with ``query``
        (``token``: the one handed out with it, see ``link_query``)."""
        key = quote((query.get("api_key") or [""])[0], safe="")
        if self.links_by_token:
            return f"/download?token={self.file_token(name)}"
        if self.link_query:
            return f"/files/{name}?" + self.link_query.format(n=self.listings, token=token)
        if self.key_in_links == "query":
            return f"/files/{name}?api_key={key}"
        if self.key_in_links == "path":
            return f"/keyed/{key}/files/{name}"
        if self.signed_names:
            return f"/files/{self.signed(name)}"
        return f"/files/{name}"

    def signed(self, name: str) -> str:
        """``name`` with the query string of a presigned link of this listing."""
        return (
            f"{name}?X-Amz-Credential=AKIAEXAMPLE%2F{self.listings}%2Fs3&"
            f"X-Amz-Date=2026112{self.listings % 10}T000000Z&"
            f"X-Amz-Signature={SIGNATURE}{self.listings:04d}"
        )

    def next_fault(self, name: str) -> str | None:
        with self.lock:
            queue = self.faults.get(name)
            return queue.pop(0) if queue else None

    def authorized(self, handler: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> bool:
        header = handler.headers.get("Authorization", "")
        if self.auth == "none":
            return True
        if self.auth == "basic":
            expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            return header == f"Basic {expected}"
        if self.auth == "bearer":
            return header == f"Bearer {BEARER}"
        if self.auth == "apikey_header":
            return handler.headers.get("X-API-Key") == API_KEY
        if self.auth == "apikey_query":
            return query.get("api_key") == [API_KEY]
        if self.auth == "oauth2":
            token = header.removeprefix("Bearer ")
            with self.lock:
                left = self.tokens.get(token, 0)
                if left <= 0:
                    return False
                self.tokens[token] = left - 1
                return True
        if self.auth == "hashtoken":
            stamp = (query.get("timestamp") or [""])[0]
            token = (query.get("token") or [""])[0]
            try:
                sent = datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=UTC)
            except ValueError:
                return False
            if abs(datetime.now(UTC) - sent) > self.skew_tolerance:
                return False  # stale (or future) timestamp
            return token == hashlib.sha256((PASSPHRASE + stamp).encode()).hexdigest()
        raise AssertionError(self.auth)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean (and query strings out of stderr)

    def parse_request(self) -> bool:
        self.instant: float | None = None  # a new request: a new time of the answer
        return super().parse_request()

    def answer_time(self) -> float:
        """The portal's time of this answer (one for its ``Date`` and its headers)."""
        instant = getattr(self, "instant", None)
        if instant is None:
            instant = self.instant = self.server.portal.now()
        return instant

    def date_time_string(self, timestamp: float | None = None) -> str:
        """An HTTP date; the ``Date`` header's (no ``timestamp``) by the portal's clock."""
        if timestamp is None:
            timestamp = self.answer_time()
        return super().date_time_string(timestamp)  # type: ignore[arg-type]

    def stamp(self) -> str:
        """The ``Last-Modified`` of a portal that stamps answers with their time."""
        return self.date_time_string(self.answer_time() + self.server.portal.stamp_offset)

    def _send(self, code: int, body: bytes = b"", ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # the answer to HEAD has headers only (RFC 9110)
            self.wfile.write(body)

    def _json(self, code: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        if not (self.server.portal.trickle_listing and self.path.startswith("/api/files")):
            self._send(code, body)
            return
        self._trickle(code, "application/json", body)

    def _trickle(self, code: int, ctype: str, body: bytes) -> None:
        """Answer ``body`` a byte every 0.1 s (for at most 20 s): never silent long enough
        for a timeout, yet far too slow."""
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        deadline = time.monotonic() + 20
        for i in range(len(body)):
            if time.monotonic() > deadline:
                break
            try:
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
            except OSError:  # the client gave up
                break
            time.sleep(0.1)
        self.close_connection = True

    def _route(self) -> tuple[str, dict[str, list[str]]] | None:
        portal = self.server.portal
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        with portal.lock:
            portal.requests.append(f"{self.command} {parts.path}")
        if parts.path == "/oauth/token":
            return parts.path, query
        if not portal.authorized(self, query):
            with portal.lock:
                portal.refused += 1
            self._copy_body(lambda block: None)  # keep the connection usable for a replay
            self._json(401, {"error": "unauthorized"})
            return None
        return parts.path, query

    def do_POST(self) -> None:
        routed = self._route()
        if routed is None:
            return
        path, _ = routed
        if path.startswith("/upload/"):
            self._multipart_upload(unquote(path.removeprefix("/upload/")))
            return
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        if path != "/oauth/token":
            self._json(404, {"error": "not found"})
            return
        portal = self.server.portal
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if (
            form.get("grant_type") != ["client_credentials"]
            or self.headers.get("Authorization") != f"Basic {expected}"
        ):
            self._json(401, {"error": "invalid_client"})
            return
        with portal.lock:
            portal.tokens_issued += 1
            token = f"access-{portal.tokens_issued}-{os.urandom(4).hex()}"
            portal.tokens[token] = portal.token_uses
        self._json(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": portal.token_lifetime},
        )

    def do_HEAD(self) -> None:
        """The headers of a file download (ETag, Last-Modified, length), without the body."""
        portal = self.server.portal
        with portal.lock:
            portal.heads_at_once += 1
            portal.most_heads_at_once = max(portal.most_heads_at_once, portal.heads_at_once)
            over = bool(portal.head_limit) and portal.heads_at_once > portal.head_limit
            busy = portal.head_busy > 0
            portal.head_busy -= busy
        self.answering_head = True
        try:
            if over or busy:
                self.send_response(429)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            time.sleep(portal.head_delay)
            self._head()
        finally:
            self._head_answered()

    def _head_answered(self) -> None:
        """Count this ``HEAD`` as answered: before its headers are sent (see
        :meth:`end_headers`), since the client may send its next request as soon as it has
        them; counted after, one answered would still count as being answered then."""
        if getattr(self, "answering_head", False):
            self.answering_head = False
            with self.server.portal.lock:
                self.server.portal.heads_at_once -= 1

    def _head(self) -> None:
        routed = self._route()
        if routed is None:
            return
        path, query = routed
        if self.server.portal.token_refused(query):
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        target = self.server.portal.root / unquote(path.removeprefix("/files/"))
        if not path.startswith("/files/") or not target.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = target.read_bytes()
        if self.server.portal.head_status is not None:
            self.send_response(self.server.portal.head_status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        if self.server.portal.ranges or self.server.portal.fresh_etags:
            self.send_header("ETag", self.server.portal.etag(data))
        if self.server.portal.generated:
            self.send_header("Last-Modified", self.stamp())
        else:
            self.send_header("Last-Modified", self.date_time_string(int(target.stat().st_mtime)))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()

    def do_GET(self) -> None:
        routed = self._route()
        if routed is None:
            return
        path, query = routed
        portal = self.server.portal
        if portal.append_slash and path == "/api/files":
            query_string = urlsplit(self.path).query
            self.send_response(301)
            self.send_header(
                "Location", "/api/files/" + (f"?{query_string}" if query_string else "")
            )
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == ("/api/files/" if portal.append_slash else "/api/files"):
            page = int((query.get("page") or ["1"])[0])
            if portal.cursor:  # an opaque token: the page number, disguised
                token = (query.get("cursor") or [""])[0]
                page = int(base64.urlsafe_b64decode(token).decode()[5:]) if token else 1
            if not portal.root.is_dir():
                self._json(404, {"error": "no data"})
                return
            names = sorted(p.name for p in portal.root.iterdir() if p.is_file())
            start = (page - 1) * portal.page_size
            if portal.overlap and page > 1:
                start -= 1  # the last item of the previous page once more
            chunk = names[start : page * portal.page_size]
            with portal.lock:
                portal.listings += 1
                token = f"tok-{portal.listings}-{os.urandom(4).hex()}"
                portal.tokens_handed.add(token)
            items = []
            for name in chunk:
                with (portal.root / name).open("rb") as fh:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
                if portal.by_id:
                    number = names.index(name)
                    items.append(
                        {
                            "id": str(number),
                            "size": (portal.root / name).stat().st_size,
                            "sha256": digest,
                            "url": f"/download?id={number}",
                        }
                    )
                    continue
                items.append(
                    {
                        "id": name,
                        "name": portal.signed(name) if portal.signed_names else name,
                        "size": (portal.root / name).stat().st_size,
                        "sha256": digest,
                        "modified": (portal.root / name).stat().st_mtime_ns,
                        "updated": datetime.fromtimestamp(
                            (portal.root / name).stat().st_mtime, UTC
                        ).isoformat(),
                        "url": self.server.portal.link(name, query, token),
                    }
                )
            more = page * portal.page_size < len(names)
            if portal.cursor:
                token = base64.urlsafe_b64encode(f"page-{page + 1}".encode()).decode()
                self._json(200, {"items": items, "next_cursor": token if more else ""})
                return
            self._json(
                200, {"items": items, "next": f"/api/files?page={page + 1}" if more else None}
            )
            return
        if path.startswith("/keyed/"):  # see Portal.key_in_links
            path = "/" + path.split("/", 3)[3]
        if path.startswith("/files/"):
            if portal.token_refused(query):
                self._json(403, {"error": "no valid token"})
                return
            self._file(unquote(path.removeprefix("/files/")))
            return
        if path == "/download" and portal.links_by_token:
            token = (query.get("token") or [""])[0]
            for name in sorted(p.name for p in portal.root.iterdir() if p.is_file()):
                if portal.file_token(name) == token:
                    self._file(name)
                    return
        if path == "/download" and portal.by_id:
            names = sorted(p.name for p in portal.root.iterdir() if p.is_file())
            number = int((query.get("id") or ["-1"])[0])
            if 0 <= number < len(names):
                self._file(names[number])
                return
        self._json(404, {"error": "not found"})

    def end_headers(self) -> None:
        for key, value in getattr(self, "extra_headers", {}).items():
            self.send_header(key, value)
        self.extra_headers: dict[str, str] = {}
        self._head_answered()
        super().end_headers()

    def _file(self, name: str) -> None:
        portal = self.server.portal
        target = portal.root / name
        with portal.lock:  # "vanish", "vanish-410": deleted after it was listed
            queue = portal.faults.get(name)
            vanish = queue.pop(0) if queue and queue[0].startswith("vanish") else None
        if vanish is not None:
            target.unlink(missing_ok=True)
        if not target.is_file():
            self._json(410 if vanish == "vanish-410" else 404, {"error": "no such file"})
            return
        if name in portal.disposition:
            self.extra_headers = {"Content-Disposition": portal.disposition[name]}
        data = target.read_bytes()
        with portal.lock:
            busy = portal.busy.get(name)
        if busy is not None and time.time() < busy[0]:
            self._busy(*busy)  # still busy: the same answer, the same Retry-After
            return
        fault = portal.next_fault(name)
        if fault is not None and fault.startswith("redirect:"):
            # "redirect:<location>": 302 to a relative path or to another origin
            self.send_response(302)
            self.send_header("Location", fault.removeprefix("redirect:"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault is not None and fault.startswith(("retry-after:", "retry-date:")):
            # "retry-after:429:N": refused with Retry-After: N (seconds), or as an HTTP-date
            # ("retry-date:503:N"), and refused again when asked before those N seconds
            kind, code, seconds = fault.split(":")
            busy = (int(time.time()) + int(seconds), int(code), kind == "retry-date")
            with portal.lock:
                portal.busy[name] = busy
            self._busy(*busy)
            return
        if fault in ("503", "404", "500"):
            self._json(int(fault), {"error": "injected"})
            return
        if fault in ("202", "204"):  # "being prepared, come back later"; "no content"
            self._json(int(fault), {"status": "preparing"} if fault == "202" else {})
            return
        etag = portal.etag(data)
        if portal.generated:
            self.extra_headers = {
                **getattr(self, "extra_headers", {}),
                "Last-Modified": self.stamp(),
            }
        with portal.lock:
            portal.range_requests.append(self.headers.get("Range"))
        if fault in ("drop", "truncate", "drop-and-change"):
            # Announce the full (or a larger) length, send part of it, hang up.
            # "drop-and-change": and the file is replaced by a new version of the same size
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if portal.ranges:
                self.send_header("ETag", etag)
            if fault == "drop-and-change":
                target.write_bytes(bytes(255 - b for b in data))
                fault = "drop"
            announced = len(data) if fault == "drop" else len(data) + 100
            sent = data[: len(data) // 2] if fault == "drop" else data
            self.send_header("Content-Length", str(announced))
            self.end_headers()
            self.wfile.write(sent)
            self.wfile.flush()
            self.close_connection = True
            return
        if fault == "trickle":
            self._trickle(200, "application/octet-stream", data)
            return
        if fault == "half-hold":
            # Send the first half of the file, then nothing until the gate opens (at most
            # 20 s): a download in progress that the client can be killed in the middle of
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if portal.ranges:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            portal.gate.wait(20.0)
            self.close_connection = True
            return
        if fault in ("chunked", "chunked-cut", "chunked-no-end"):
            # No Content-Length: chunked transfer coding; "chunked-cut" hangs up before the
            # last chunk (a body cut short that no length announced); "chunked-no-end" sends
            # every byte, then hangs up instead of sending the closing chunk
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if portal.ranges:
                self.send_header("ETag", etag)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            pieces = [data[i : i + 10_000] for i in range(0, len(data), 10_000)]
            for piece in pieces[: len(pieces) // 2] if fault == "chunked-cut" else pieces:
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            if fault == "chunked":
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.close_connection = True
            self.wfile.flush()
            return
        if fault == "stall":
            time.sleep(1.0)
        if fault == "hold":
            portal.gate.wait(20.0)
        wanted = self.headers.get("Range", "")
        if portal.ranges and wanted.startswith("bytes=") and wanted.endswith("-"):
            start = int(wanted.removeprefix("bytes=").removesuffix("-"))
            if portal.ignore_if_range or self.headers.get("If-Range", etag) == etag:
                if start >= len(data):
                    self.extra_headers = {"Content-Range": f"bytes */{len(data)}"}
                    self._json(416, {"error": "range not satisfiable"})
                    return
                end = (
                    len(data) if not portal.range_cap else min(len(data), start + portal.range_cap)
                )
                self.send_response(206)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("ETag", etag)
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                self.send_header("Content-Length", str(end - start))
                self.end_headers()
                self.wfile.write(data[start:end])
                return
        if portal.ranges:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        accepted = self.headers.get("Accept-Encoding", "")
        if (portal.gz_as_encoding and name.endswith(".gz")) or (
            portal.compress and "gzip" in accepted
        ):
            body = data if name.endswith(".gz") else gzip.compress(data)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Encoding", "gzip")
            if portal.fresh_etags:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if portal.fresh_etags:
            self.extra_headers = {**getattr(self, "extra_headers", {}), "ETag": etag}
        self._send(200, data, "application/octet-stream")

    def _busy(self, until: float, code: int, as_date: bool) -> None:
        body = b'{"error": "busy"}'
        self.send_response(code)
        wait = formatdate(until, usegmt=True) if as_date else str(int(until - time.time()) + 1)
        self.send_header("Retry-After", wait)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        routed = self._route()
        if routed is None:
            return
        path, _ = routed
        if not path.startswith("/files/"):
            self._json(404, {"error": "not found"})
            return
        target = self.server.portal.root / unquote(path.removeprefix("/files/"))
        tmp = target.with_name(f".{target.name}.part")
        with tmp.open("wb") as fh:
            size = self._copy_body(fh.write)
        tmp.replace(target)
        self._json(201, {"id": target.name, "size": size})

    def _multipart_upload(self, name: str) -> None:
        """A ``multipart/form-data`` body with one part, field ``file`` (RFC 7578), to disk.

        Read strictly in order (part headers, then exactly the bytes before the closing
        delimiter) so that the file itself is copied in blocks and never held in memory.
        """
        ctype = self.headers.get("Content-Type", "")
        boundary = ctype.partition("boundary=")[2].strip('"').encode()
        left = int(self.headers.get("Content-Length", "0"))
        if not ctype.startswith("multipart/form-data") or not boundary:
            self._copy_body(lambda block: None)
            self._json(400, {"error": "expected multipart/form-data"})
            return
        lines = []
        while True:  # delimiter line and part headers, up to the blank line
            line = self.rfile.readline(1000)
            left -= len(line)
            if line in (b"\r\n", b""):
                break
            lines.append(line.decode("latin-1").strip())
        closing = b"\r\n--" + boundary + b"--\r\n"
        if lines[:1] != [f"--{boundary.decode()}"] or 'name="file"' not in " ".join(lines):
            self._json(400, {"error": "expected one part named 'file'"})
            self.close_connection = True
            return
        target = self.server.portal.root / name
        tmp = target.with_name(f".{target.name}.part")
        size = left - len(closing)
        with tmp.open("wb") as fh:
            while size > 0:
                block = self.rfile.read(min(size, 1 << 16))
                if not block:
                    break
                fh.write(block)
                size -= len(block)
        if self.rfile.read(len(closing)) != closing:
            tmp.unlink()
            self._json(400, {"error": "malformed multipart body"})
            self.close_connection = True
            return
        tmp.replace(target)
        self._json(201, {"id": target.name, "size": target.stat().st_size})

    def _copy_body(self, write: Callable[[bytes], object]) -> int:
        """Pass the request body to ``write`` in blocks (uploads may be larger than memory)."""
        left = int(self.headers.get("Content-Length", "0"))
        total = 0
        while left > 0:
            block = self.rfile.read(min(left, 1 << 16))
            if not block:
                break
            write(block)
            total += len(block)
            left -= len(block)
        return total


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    portal: Portal

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and hung up is part of the fault tests


class PortalServer:
    """Runs a :class:`Portal` on 127.0.0.1 (or ``host="::1"``) in a thread
    (``with PortalServer(portal):``)."""

    def __init__(self, portal: Portal, host: str = "127.0.0.1") -> None:
        self.portal = portal
        server = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        self.httpd = (server if ":" in host else _Server)((host, 0), _Handler)
        self.httpd.portal = portal
        shown = f"[{host}]" if ":" in host else host
        portal.url = f"http://{shown}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}
        )

    def __enter__(self) -> Portal:
        self.thread.start()
        return self.portal

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@contextmanager
def grown_during_its_download(portal: Portal, target: Path) -> Iterator[None]:
    """Hold the download of ``target`` (a file of the portal's root), append to the file
    while it is held, then let the download go on: the bytes sent are of no complete version.
    The block runs the fetch; the writer is waited for after it, however it ends."""
    portal.faults[target.name] = ["hold"]

    def grow() -> None:
        deadline = time.monotonic() + 10
        while f"GET /files/{target.name}" not in portal.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        with target.open("ab") as fh:
            fh.write(os.urandom(5_000))
        portal.gate.set()

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        yield
    finally:
        portal.gate.set()
        writer.join()
