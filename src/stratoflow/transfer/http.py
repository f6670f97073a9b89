"""HTTP/REST data portals (httpx): a paginated JSON listing, streaming downloads, uploads.

Portals differ in shape, so the shape is configuration: where the listing is
(``list_path``), where the items are in its JSON (``items_path``, a dotted path such as
``data.files``), where the link to the next page is (``next_path``; with ``cursor_param`` the
value there is an opaque cursor, sent as that query parameter of the listing URL for the next
page, as in ``{"next_page_token": "..."}`` -> ``files?page_token=...``), and which item fields
hold the identity, file name, download URL, size, version marker and SHA-256. Downloads are
streamed straight into the staging area, byte for byte as the portal stores the file (no
``Content-Encoding`` is asked for or undone); a file whose listed name has no extension (a
portal id) is staged under the name the server gives it in ``Content-Disposition``. A cut
download is resumed with ``Range`` and ``If-Range``, in the same run or the next. Uploads
(exports) are a PUT or POST of the file, streamed from disk in chunks (never loaded whole).

A file the portal is still writing (a growing file published before it is complete) is left
for a later run, as on a directory (see :class:`~stratoflow.transfer.base.Settle`): a new
file is taken once its listed size, version marker and modification time
(``modified_field``), and what a ``HEAD`` of it tells (``ETag``, ``Last-Modified``,
``Content-Length``), stayed the same for ``settle`` seconds, and once it is at least
``min_age`` seconds old by the portal's own clock (its ``Date`` header against the listed
modification time or ``Last-Modified``: a portal whose clock is off is judged by itself). A
file that changed while it was downloaded (its ``HEAD`` differs) is not staged. A portal that
answers ``HEAD`` with an error is judged by its listing alone. When the listing gives size and
modification time, the two listings are what is compared over ``settle``, and each file taken
is asked ``HEAD`` once, before its download (the state compared after it). The ``HEAD``
requests of many new files go ``parallel_heads`` at a time, one at a time once the portal
answers one of them 429, 503 or the like (a first run over thousands of files waited for
each in turn). A portal that makes a new ``ETag`` for every answer, or stamps
``Last-Modified`` with the time of each answer (download scripts), is told by looks at a
file that differ in these alone and two ``HEAD`` requests back to back (see
:meth:`_HttpConnection.changes`): they then count as no version marker for that transfer
object (said once in the log), so its files are neither left for a later run for ever nor
downloaded again at every run; the length, a steady ETag and the listed size and time
decide (see :func:`_version`).

Errors are translated at the boundary: 401/403 -> :class:`AuthError`; 404/410 for a file ->
:class:`GoneError`; timeouts, dropped connections, truncated bodies, a body trickled slower
than ``min_speed`` bytes/s, 202 (file being prepared), 408/429/5xx ->
:class:`TransientTransferError`; other failures -> :class:`TransferError`. URLs in messages
never carry a query string (where API keys and hash tokens live); a filter on the ``httpx``
logger removes them from its log lines too. An item identity (stored) never holds a secret
sent: a query parameter holding one is dropped from it, one elsewhere is refused; nor one the
portal hands out anew with each listing (a token, a signature, a session id, an expiry time:
see :func:`_stable_identity`), which made every file new at every run. A file name
from the portal (``name_field``, or the link) never holds a signed link's query string or a
token: it is taken off the name (see :func:`_file_name`), the download still uses it.

Example config::

    {"type": "http", "base_url": "https://portal.example.org/api/", "list_path": "files",
     "items_path": "results", "next_path": "links.next", "url_field": "download"}
"""

from __future__ import annotations

import email.message
import email.utils
import io
import json
import logging
import os
import re
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple
from urllib.parse import unquote, unquote_plus

import httpx

from stratoflow.errors import (
    AuthError,
    ConfigError,
    GoneError,
    SecretError,
    TransferError,
    TransientTransferError,
)
from stratoflow.transfer.auth.base import ConnectionHandler
from stratoflow.transfer.base import (
    Connection,
    Observation,
    Paced,
    RemoteItem,
    Settle,
    TransferType,
)
from stratoflow.transfer.config import (
    min_age_seconds,
    min_speed_bytes,
    settle_option,
    timeout_seconds,
)
from stratoflow.transfer.retry import retry_after_seconds
from stratoflow.transfer.secrets import redact
from stratoflow.transfer.staging import ResumedSink, ServedSink, Sink

__all__ = ["HttpPortal", "public_url", "served_name"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 16
_AS_STORED = {"Accept-Encoding": "identity"}
_MAX_REDIRECTS = 20
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # not allowed in a header value
_MISSING = object()
#: POSIX seconds of the year 5138: a larger listed time is milliseconds or nanoseconds
_LATEST = 1e11
#: (header, public URL) of the portals this process has said make that header anew for
#: every answer (an ``ETag``, a ``Last-Modified``): said once, not for every file and run
_VOLATILE_REPORTED: set[tuple[str, str]] = set()
_REPORTED_LOCK = threading.Lock()
#: The most ``HEAD`` requests the settle guard may send at once (``parallel_heads``)
_MAX_PARALLEL_HEADS = 16
#: Answers to a ``HEAD`` sent in parallel that mean "slow down" (or a server in trouble):
#: the other files are observed one at a time (see ``observe_many``)
_SLOW_DOWN = frozenset({408, 425, 429, 500, 502, 503, 504})


def public_url(url: httpx.URL | str) -> str:
    """``url`` without user info, query string and fragment: safe for messages and logs."""
    u = httpx.URL(url)
    port = f":{u.port}" if u.port is not None else ""
    host = f"[{u.host}]" if ":" in u.host else u.host  # an IPv6 address (RFC 3986)
    return f"{u.scheme}://{host}{port}{u.path}"


class _RedactQueries(logging.Filter):
    """Replace URLs in httpx's own log records by their public form."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                public_url(a) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactQueries())


def _without_secrets(identity: str) -> str | None:
    """``identity`` without the query parameters that hold a secret; None if one is elsewhere.

    A portal that was sent its API key as a query parameter may put it back into every
    item's link (``/files/f.nc?api_key=K``); with ``id_field`` on that link, the key would
    become the file's identity, stored in the staging manifest and as its task's subject and
    shown in every message. Dropping those parameters (whatever their name: the values
    revealed in this process, see :func:`~stratoflow.transfer.secrets.redact`) keeps the
    identity stable when the key is rotated, too; a secret elsewhere (in the path) cannot be
    taken out without changing what the identity names, so it is refused.
    """
    if redact(identity) == identity:
        return identity
    head, mark, query = identity.partition("?")
    query, hash_, fragment = query.partition("#")
    kept = "&".join(p for p in query.split("&") if p and redact(p) == p)
    identity = head + (mark if kept else "") + kept + hash_ + fragment
    return identity if redact(identity) == identity else None


#: Words of a query parameter's name (``access_token``: access, token; ``X-Amz-Signature``,
#: ``AWSAccessKeyId``) that make it a credential, a signature or its expiry: its value is
#: handed out anew with each listing (a signed link, a download token, a session), never
#: names the item. Whole words only: ``author`` or ``keyword`` are none of these.
_VOLATILE_WORDS = frozenset(
    {
        "token",
        "signature",
        "sig",
        "hmac",
        "secret",
        "password",
        "passwd",
        "pwd",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "session",
        "sessionid",
        "jsessionid",
        "phpsessid",
        "hdnts",  # Akamai's token
        "apikey",
        "expires",
        "expire",
        "expiry",
        "expiration",
        "nonce",
    }
)
#: ``key`` is a credential with one of these (``api_key``, ``AWSAccessKeyId``, CloudFront's
#: ``Key-Pair-Id``); alone (``?key=data/f.nc``, an object key) it may name the item
_KEY_WORDS = frozenset({"api", "access", "secret", "private", "subscription", "pair", "signing"})
#: Parameter names that are part of a signature in a link that carries one (above): the time
#: it was signed, a policy, a digest, Azure's SAS start and expiry (``st``, ``se``, ``skt``,
#: ``ske``). In a link without a signature they may name the item (``?st=ZUG``), so are kept.
_SIGNED_WITH = frozenset(
    {"timestamp", "ts", "policy", "hash", "md5", "st", "se", "skt", "ske", "googleaccessid"}
)
#: Prefixes of the query parameters of presigned object-store links (all of them signed)
_SIGNING_PREFIXES = ("x-amz-", "x-goog-", "x-oss-")


def _words(name: str) -> list[str]:
    """The words of a parameter name, lower case: ``X-Amz-Signature`` -> x, amz, signature;
    ``AWSAccessKeyId`` -> aws, access, key, id; ``access_token`` -> access, token."""
    return [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)]


def _volatile(name: str) -> bool:
    """Whether the query parameter ``name`` is a credential or signs the link, by its name."""
    words = _words(name)
    return (
        name.lower().startswith(_SIGNING_PREFIXES)
        or not _VOLATILE_WORDS.isdisjoint(words)
        or ("key" in words and not _KEY_WORDS.isdisjoint(words))
    )


def _stable_identity(identity: str) -> str:
    """``identity`` without the query parameters a portal hands out anew with each listing.

    A portal whose item links carry a download token, a session id or a signature
    (``/files/f.nc?token=...``, a presigned S3 or GCS link, an Azure SAS), with ``id_field``
    on that link: the identity changed with every listing, so every run saw every file as
    new, downloaded it again and staged it once more (a second import), and the token was
    stored with it (staging manifest, task subject, messages). Such parameters, by their
    name (:func:`_volatile`, and those signed with them, :data:`_SIGNED_WITH`), are taken off;
    the others stay (``/download?id=3&token=...`` is ``/download?id=3``), in their order and
    spelling. Only the identity changes: the download uses the link as listed. Two different
    items that only such a parameter told apart are an error (see
    :meth:`_HttpConnection.list`), never one item.
    """
    head, mark, rest = identity.partition("?")
    if not mark:
        return identity
    query, hash_, fragment = rest.partition("#")
    parameters = [p for p in query.split("&") if p]
    names = [unquote_plus(p.partition("=")[0]) for p in parameters]
    signed = any(_volatile(n) for n in names)
    kept = [
        p
        for p, n in zip(parameters, names, strict=True)
        if not (_volatile(n) or (signed and n.lower().replace("-", "") in _SIGNED_WITH))
    ]
    return head + ("?" + "&".join(kept) if kept else "") + hash_ + fragment


#: Query parameter names that carry a credential or sign a URL (S3 ``X-Amz-Signature``,
#: GCS ``X-Goog-Credential``, Azure ``sig``, ``token``, ``api_key``, ``session``, ...)
_CREDENTIAL_PARAMETER = re.compile(
    r"token|key|sig|secret|passw|pwd|auth|credential|session|x-amz-|x-goog-", re.IGNORECASE
)


def _file_name(name: str) -> str:
    """``name`` (from the portal: a listed name, a link) fit to name a staged file.

    A portal may hand out a signed link or an access token where a name is expected
    (``data.nc?token=...``, or the download URL when the listing has no name): the staged
    file, its manifest entry, its database rows and every message about it would carry the
    credential. A query string with a parameter that holds one (by its name, see
    :data:`_CREDENTIAL_PARAMETER`, or by its value, one revealed in this process) is dropped
    whole: the other parameters of a signed link (expiry, date) change with every listing,
    and a name must stay the same from one run to the next. Any revealed secret left is
    masked (:func:`~stratoflow.transfer.secrets.redact`). Other names are kept as they
    were (``/download?id=3`` still names item 3): only the file name changes, never the
    identity that tells which items were fetched.
    """
    head, mark, query = name.partition("?")
    if mark:
        parameters = [p for p in query.partition("#")[0].split("&") if p]
        if any(
            _CREDENTIAL_PARAMETER.search(unquote(p.partition("=")[0])) or redact(p) != p
            for p in parameters
        ):
            name = head
    return redact(name)


def dig(document: Any, path: str | None) -> Any:
    """The value at a dotted ``path`` (``"data.items"``, ``"links.0.href"``); ``None`` if absent."""
    if not path:
        return document
    value = document
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif (
            isinstance(value, list)
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            value = _MISSING
        if value is _MISSING:
            return None
    return value


class HttpPortal(TransferType):
    """A REST portal with a JSON listing; see the module docstring for the options.

    ``download_path`` (e.g. ``"files/{id}"``) is used when items carry no ``url_field``;
    ``modified_field`` names the item field with its modification time (ISO 8601, an HTTP
    date, or POSIX seconds), for ``min_age``; ``settle`` and ``min_age`` (seconds) leave a
    file still being written for a later run (see the module); ``parallel_heads``: how many
    of the settle guard's ``HEAD`` requests are sent at once (1 for a portal that takes one
    connection at a time);
    ``upload_path`` (e.g. ``"upload/{name}"``) enables :meth:`put`, sent with
    ``upload_method``, as the raw body, or as multipart field ``upload_field`` when given.
    """

    name = "http"
    protocol = "http"

    def __init__(
        self,
        *,
        base_url: str,
        list_path: str = "",
        items_path: str | None = "items",
        next_path: str | None = "next",
        cursor_param: str | None = None,
        id_field: str = "id",
        name_field: str | None = "name",
        url_field: str | None = "url",
        download_path: str | None = None,
        size_field: str | None = "size",
        version_field: str | None = None,
        modified_field: str | None = None,
        sha256_field: str | None = None,
        upload_path: str | None = None,
        upload_method: Literal["PUT", "POST"] = "PUT",
        upload_field: str | None = None,
        timeout: float = 30.0,
        min_speed: float = 1024.0,
        verify_tls: bool = True,
        settle: float | None = None,
        min_age: float = 0.0,
        parallel_heads: int = 4,
    ) -> None:
        if upload_method not in ("PUT", "POST"):
            raise ConfigError(
                f"transfer 'http': upload_method must be PUT or POST, not {upload_method!r}"
            )
        if not base_url.startswith(("http://", "https://")):
            scheme = base_url.partition(":")[0] if ":" in base_url else base_url[:0]
            raise ConfigError(
                "transfer 'http': base_url must be an http(s) URL"
                + (f", not a {scheme!r} URL" if scheme.isalnum() else "")
            )
        try:
            parsed = httpx.URL(base_url)
        except httpx.InvalidURL:
            raise ConfigError("transfer 'http': base_url is not a valid URL") from None
        if parsed.query or parsed.fragment:
            # Never sent (requests are made relative to its path), but stored: often a key.
            raise ConfigError(
                "transfer 'http': base_url must not carry a query string or fragment (it "
                "would be stored with the configuration and never sent); a key in the URL "
                "is auth method 'apikey' with location 'query' and a secret reference"
            )
        # no user:password@ in it: refused before this runs (see TransferType.__new__)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.list_path, self.items_path, self.next_path = list_path, items_path, next_path
        self.cursor_param = cursor_param
        self.id_field, self.name_field, self.url_field = id_field, name_field, url_field
        self.download_path, self.size_field = download_path, size_field
        self.version_field, self.sha256_field = version_field, sha256_field
        self.upload_path, self.upload_method, self.upload_field = (
            upload_path,
            upload_method,
            upload_field,
        )
        self.timeout = timeout_seconds(timeout, "transfer 'http'")
        self.min_speed = min_speed_bytes(min_speed, "transfer 'http'")
        self.verify_tls = verify_tls
        self.modified_field = modified_field
        self._settle = settle  # None: the site default (kept so, not frozen into the config)
        self.settle_interval = settle_option(settle, "transfer 'http'")
        self.min_age = min_age_seconds(min_age, "transfer 'http'")
        if (
            isinstance(parallel_heads, bool)
            or not isinstance(parallel_heads, int)
            or not 1 <= parallel_heads <= _MAX_PARALLEL_HEADS
        ):
            raise ConfigError(
                "transfer 'http': parallel_heads must be a whole number from 1 to "
                f"{_MAX_PARALLEL_HEADS}, not {parallel_heads!r}"
            )
        self.parallel_heads = parallel_heads
        #: whether this portal's ETags tell a file's version (learnt, never configured):
        #: None until two looks at a file tell, False once its ETag changed from one answer
        #: to the next with nothing else changing (see :meth:`_HttpConnection.changes`)
        self.etags_tell_versions: bool | None = None
        #: whether this portal's ``Last-Modified`` tells a file's version (learnt, never
        #: configured): None until two answers for a file tell, True once answers a second
        #: or more apart gave the same one, False once it followed the time of the answers
        #: with nothing else changing (see :meth:`_HttpConnection._learn_dates`)
        self.last_modified_tells_versions: bool | None = None

    def options(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "list_path": self.list_path,
            "items_path": self.items_path,
            "next_path": self.next_path,
            "cursor_param": self.cursor_param,
            "id_field": self.id_field,
            "name_field": self.name_field,
            "url_field": self.url_field,
            "download_path": self.download_path,
            "size_field": self.size_field,
            "version_field": self.version_field,
            "modified_field": self.modified_field,
            "sha256_field": self.sha256_field,
            "upload_path": self.upload_path,
            "upload_method": self.upload_method,
            "upload_field": self.upload_field,
            "timeout": self.timeout,
            "min_speed": self.min_speed,
            "verify_tls": self.verify_tls,
            "settle": self._settle,
            "min_age": self.min_age,
            "parallel_heads": self.parallel_heads,
        }

    def pace(self) -> tuple[float, float] | None:
        return (self.min_speed, self.timeout) if self.min_speed else None

    def settle(self) -> Settle | None:
        return Settle.of(self.settle_interval, self.min_age)

    @property
    def where(self) -> str:
        return public_url(self.base_url)

    def connect(self, auth: ConnectionHandler) -> Connection:
        return _HttpConnection(self, auth.http_auth())


def _version(
    response: httpx.Response, item: RemoteItem, *, etags: bool = True, modified: bool = True
) -> str | None:
    """The version marker a ``HEAD`` answer for ``item`` tells: its ETag (unless ``etags``
    is false: a portal whose ETags change from one answer to the next), or Last-Modified and
    length.

    Without ``modified`` (a portal that stamps ``Last-Modified`` with the time of each
    answer) the length alone, and the listed modification time where the listing has one
    (``length:<bytes>``, ``length:<bytes>:listed:<seconds>``): a file rewritten with
    another length, or listed with another time, is a new version; one rewritten with the
    same length on a portal that lists no time, gives no steady ETag and no checksum cannot
    be told from the headers (nothing that tells it stays the same between runs), and is
    not downloaded again. Such markers name no ``If-Range`` validator (see
    :func:`_validator_of`): a cut download is resumed on the strength of a listed checksum
    only.
    """
    if response.status_code != 200:
        return None
    etag = response.headers.get("ETag")
    if etag and etags:
        return f"etag:{etag}"
    last_modified = response.headers.get("Last-Modified")
    length = response.headers.get("Content-Length")
    if modified:
        return f"modified:{last_modified}:{length}" if last_modified and length else None
    if length is None and item.size is not None:
        length = str(item.size)
    if length is None:
        return None
    return f"length:{length}" + ("" if item.mtime is None else f":listed:{item.mtime!r}")


def _listed(item: RemoteItem) -> bool:
    """Whether the listing tells a size or a modification time of ``item``: what shows
    that a file is being written where its ``HEAD`` tells no steady marker."""
    return item.size is not None or item.mtime is not None


def _etag(response: httpx.Response) -> str | None:
    """The ``ETag`` of a 200 answer (``None``: none, or another answer)."""
    return (response.headers.get("ETag") or None) if response.status_code == 200 else None


class _Dated(NamedTuple):
    """The ``Last-Modified`` and ``Date`` of an answer (POSIX seconds; ``None``: none)."""

    modified: float | None
    date: float | None

    @classmethod
    def of(cls, response: httpx.Response) -> _Dated:
        headers = response.headers
        return cls(_http_date(headers.get("Last-Modified")), _http_date(headers.get("Date")))

    @classmethod
    def seen(cls, look: Observation) -> _Dated:
        """Of the ``HEAD`` answer an observation was made with (see ``_observed``)."""
        modified = dict(look.marker).get("Last-Modified")
        return cls(_http_date(modified) if isinstance(modified, str) else None, look.clock)

    def same_as(self, other: _Dated) -> bool:
        """Whether two answers carry the same ``Last-Modified``, or each the time of the
        answer (see :attr:`stamped`)."""
        return self.modified == other.modified or (self.stamped and other.stamped)

    def followed_by(self, later: _Dated) -> bool:
        """Whether the ``Last-Modified`` of the answer ``later`` is as far behind its
        ``Date`` as this one's is (within a second: both have whole seconds), or neither is
        before its ``Date``: it may have followed the time of the answers."""
        if None in (*self, *later):
            return False
        behind = [d - m for m, d in (self, later) if m is not None and d is not None]
        return max(behind) <= 0 or abs(behind[0] - behind[1]) <= 1

    @property
    def stamped(self) -> bool:
        """Whether the ``Last-Modified`` is not before the ``Date``: the time of the answer
        (or a file modified within its second, or dated ahead by a clock ahead)."""
        return self.modified is not None and self.date is not None and self.modified >= self.date


def _check(
    response: httpx.Response, what: str, asked: httpx.URL | None = None, *, file: bool = False
) -> None:
    """Raise the stratoflow error for an HTTP error status; ``file``: the answer to a file
    download, where 404/410 mean the portal does not have the file (:class:`GoneError`)."""
    code = response.status_code
    if code < 400:
        return
    final = public_url(response.request.url)
    if final not in what:  # the answer came from where a redirect led
        what = f"{what}: redirected to {final}"
    if code in (401, 403):
        if asked is not None and _origin(asked) != _origin(response.request.url):
            raise AuthError(
                f"{what}: HTTP {code}: another origin asks for credentials; they are sent to "
                "the portal's own origin only"
            )
        raise AuthError(f"{what}: HTTP {code}: the server refused the credentials")
    if code in (408, 425, 429) or code >= 500:
        wait = retry_after_seconds(
            response.headers.get("Retry-After"), response.headers.get("Date")
        )
        after = "" if wait is None else f" (the server asks to retry after {wait:.0f} s)"
        raise TransientTransferError(f"{what}: HTTP {code}{after}", retry_after=wait)
    if file and code in (404, 410):
        raise GoneError(f"{what}: HTTP {code}: the portal does not have the file")
    raise TransferError(f"{what}: HTTP {code}")


def _translate(exc: httpx.HTTPError, what: str) -> TransferError:
    kind = type(exc).__name__
    try:
        failed = exc.request.url
    except RuntimeError:  # no request attached
        failed = None
    if failed is not None and public_url(failed) not in what:
        # The request that failed was another one (an OAuth2 token request made on the way)
        what = f"{what}: {exc.request.method} {public_url(failed)}"
    if isinstance(exc, httpx.TransportError):
        return TransientTransferError(f"{what}: {kind}: {exc}")
    return TransferError(f"{what}: {kind}: {exc}")


def served_name(disposition: str | None) -> str | None:
    """The file name in a ``Content-Disposition`` header (RFC 6266), ``None`` if it has none.

    ``filename*`` (RFC 8187: ``UTF-8''M%C3%A4rz.nc``, any charset) is preferred to the plain
    ``filename``, as RFC 6266 §4.3 asks. The stdlib's MIME parameter parser does the parsing;
    the name is *not* safe to use as a path: the staging area sanitises it.
    """
    if not disposition:
        return None
    header = email.message.Message()
    header["Content-Disposition"] = disposition
    plain = extended = None
    for key, value in header.get_params(header="content-disposition", failobj=[])[1:]:
        if key.lower() != "filename":
            continue
        if isinstance(value, tuple):  # filename*, decoded from its charset
            extended = email.utils.collapse_rfc2231_value(value)
        else:
            plain = value
    return extended or plain or None


def _note_validator(
    response: httpx.Response, sink: Sink, *, etags: bool = True, modified: bool = True
) -> None:
    """Tell the sink what identifies this version of the file (a strong ETag, unless
    ``etags`` is false, else Last-Modified, unless ``modified`` is false), so that a cut
    download is resumed with ``If-Range``: kept with the bytes, it serves the next attempt
    and the next run alike.

    A ``Last-Modified`` not before the answer's ``Date`` is no validator (RFC 9110
    §8.8.2.2: the file may change again within that second), nor one of a portal that
    stamps every answer with its time: the next answer would carry another date, or the
    same date for other bytes."""
    etag = response.headers.get("ETag") if etags else None
    validator = etag if etag and not etag.startswith("W/") else None
    if not validator and modified and not _Dated.of(response).stamped:
        validator = response.headers.get("Last-Modified")
    if validator and isinstance(sink, ServedSink):
        sink.validated_by(validator)


def _note_name(response: httpx.Response, sink: Sink) -> None:
    """Tell the sink the file name the server gave the download, if it takes one."""
    name = served_name(response.headers.get("Content-Disposition"))
    if name and isinstance(sink, ServedSink):
        sink.served_as(_file_name(name))


def _is_the_file(response: httpx.Response, what: str) -> None:
    """Refuse a success answer to a download that does not carry the file.

    Only 200 (and 203, the same through a proxy) does. A portal that prepares files on
    demand answers 202 Accepted with a note in the body until it is ready (transient: come
    back later); 204, a redirect without a ``Location`` or another 2xx/3xx is no file at all.
    Their bodies were staged as the data file, undetected when the listing gave no size.
    """
    code = response.status_code
    if code in (200, 203):
        return
    if code == 202:
        wait = retry_after_seconds(
            response.headers.get("Retry-After"), response.headers.get("Date")
        )
        raise TransientTransferError(
            f"{what}: HTTP 202: the portal is preparing the file", retry_after=wait
        )
    raise TransferError(f"{what}: HTTP {code}: the answer does not carry the file")


def _complete_length(response: httpx.Response) -> int | None:
    """The length of the file in a 416 answer (``Content-Range: bytes */2000``)."""
    unit, _, spec = response.headers.get("Content-Range", "").strip().partition(" ")
    span, _, total = spec.partition("/")
    return int(total) if unit == "bytes" and span == "*" and total.isdigit() else None


def _content_range(response: httpx.Response) -> tuple[int, int, int | None] | None:
    """First byte, last byte and total length (``None``: ``*``, not known) of a 206 answer
    (``Content-Range: bytes 1000-1999/2000``); ``None`` when it has no such header."""
    unit, _, spec = response.headers.get("Content-Range", "").strip().partition(" ")
    span, _, total = spec.partition("/")
    first, _, last = span.partition("-")
    if unit != "bytes" or not first.isdigit() or not last.isdigit() or int(last) < int(first):
        return None
    if not (total.isdigit() or total == "*"):
        return None
    return int(first), int(last), int(total) if total.isdigit() else None


def _validator_of(version: str | None) -> str | None:
    """The ``If-Range`` validator in a version marker from ``version_of`` (a strong ETag or a
    Last-Modified date): what lets another run resume a download that a killed one began."""
    if version is None:
        return None
    if version.startswith("etag:") and not version.startswith("etag:W/"):
        return version.removeprefix("etag:")
    if version.startswith("modified:"):
        return version.removeprefix("modified:").rpartition(":")[0] or None
    return None


def _same_version(response: httpx.Response, validator: str | None) -> bool:
    """Whether a 206 answer is of the version we hold the start of.

    A server that ignores ``If-Range`` sends the asked range of whatever it has now; the
    part's own ETag (or Last-Modified) then differs from the validator, and appending it
    would stitch two versions into one file.
    """
    if validator is None:
        return True  # resumed on the strength of the listed checksum, checked at the end
    if validator.startswith(('"', "W/")):
        etag = response.headers.get("ETag")
        return etag is None or etag == validator
    modified = response.headers.get("Last-Modified")
    return modified is None or modified == validator


def _http_date(value: str | None) -> float | None:
    """POSIX seconds of an HTTP date (``Date``, ``Last-Modified``); ``None`` if it is none."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _server_clock(response: httpx.Response) -> tuple[float, float] | None:
    """The server's time by the answer's ``Date`` header, and ``time.monotonic()`` when it
    came: from these, the server's time later (see :func:`_age`)."""
    date = _http_date(response.headers.get("Date"))
    return None if date is None else (date, time.monotonic())


def _age(modified: float, clock: tuple[float, float] | None) -> float:
    """Seconds since ``modified`` (a time of the server), by the server's clock when its
    ``Date`` is known (``clock``), else by this machine's: a portal whose clock is an hour
    behind stamps a file written now an hour back, and its own clock says it is new."""
    if clock is None:
        return time.time() - modified
    date, at = clock
    return date + (time.monotonic() - at) - modified


def _modified_time(value: Any) -> float | None:
    """POSIX seconds of a listed modification time: ISO 8601 (no zone: UTC), an HTTP date,
    or a number of POSIX seconds; ``None`` when the field is absent or null. A
    :class:`ValueError` for anything else, milliseconds or nanoseconds included (a time
    thousands of years ahead: the file would never be old enough for ``min_age``)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _seconds(str(value))
    if isinstance(value, str):
        text = value.strip()
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return _http_date(text) or _seconds(text)
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    raise ValueError(value)


def _seconds(text: str) -> float:
    seconds = float(text)  # a ValueError when it is no number either
    if not abs(seconds) < _LATEST:  # NaN and infinities too
        raise ValueError(text)
    return seconds


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _refuse_control_characters(request: httpx.Request, names: set[str]) -> None:
    """A credential header with a line break or control character cannot be sent.

    h11 refuses it with an error that quotes the whole header, credential included, which
    would end up in logs, retries and task notes; this says which header, not its value.
    """
    for name in names:
        value = request.headers.get(name)
        if value is not None and _CONTROL.search(value):
            raise SecretError(
                f"{request.method} {public_url(request.url)}: the credentials cannot be sent: "
                f"header {name!r} would hold a line break or control character; check the "
                "secret's value"
            )


class _SameOrigin(httpx.Auth):
    """Credentials go to the portal's own origin only.

    A listing's ``next`` link, a download URL or a redirect may point at another host (a
    CDN, a mirror, or a hostile server): it gets the request without the token, key or
    password. httpx drops ``Authorization`` on a cross-origin redirect but keeps any other
    header (``X-API-Key``); :meth:`strip` (a request hook, run for redirects too) removes the
    headers this auth added.
    """

    def __init__(self, inner: httpx.Auth, origin: tuple[str, str, int | None]) -> None:
        self.inner, self.origin = inner, origin
        self.requires_request_body = inner.requires_request_body
        self.requires_response_body = inner.requires_response_body
        self.added: set[str] = {"authorization"}
        self.own: set[int] = set()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) != self.origin:
            yield request
            return
        before = set(request.headers.keys())
        flow = self.inner.auth_flow(request)
        response: httpx.Response | None = None
        while True:
            try:
                sent = flow.send(response) if response is not None else next(flow)
            except StopIteration:
                return
            if sent is request:
                self.added |= set(request.headers.keys()) - before
                _refuse_control_characters(request, self.added)
            else:  # the auth's own request (an OAuth2 token request): sent as it made it
                self.own.add(id(sent))
            response = yield sent

    def strip(self, request: httpx.Request) -> None:
        if id(request) in self.own:
            self.own.discard(id(request))
            return
        if _origin(request.url) != self.origin:
            for name in self.added:
                request.headers.pop(name, None)


class _HttpConnection(Connection):
    def __init__(self, spec: HttpPortal, auth: httpx.Auth) -> None:
        self.spec = spec
        self.where = spec.where
        #: identity -> the server's clock when the listing page holding it came
        #: (see :func:`_server_clock`): the age of a listed modification time
        self._listed_clock: dict[str, tuple[float, float]] = {}
        #: identity -> the answer to the settle guard's last HEAD of it (headers only), for
        #: :meth:`version_of`: one request less per new file
        self._head_version: dict[str, httpx.Response] = {}
        #: the portal asked to slow down (or failed) when HEADs were sent in parallel: from
        #: then on this connection sends them one at a time (see :meth:`observe_many`)
        self._one_at_a_time = False
        guarded = _SameOrigin(auth, _origin(httpx.URL(spec.base_url)))
        self.client = httpx.Client(
            base_url=spec.base_url,
            auth=guarded,
            timeout=httpx.Timeout(spec.timeout),
            verify=spec.verify_tls,
            follow_redirects=True,
            event_hooks={"request": [guarded.strip]},
        )

    def close(self) -> None:
        self.client.close()

    def _open(
        self, url: httpx.URL, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> httpx.Response:
        """GET ``url``, following redirects hop by hop; the response is streamed (close it).

        httpx follows redirects inside one authenticated request, so credentials that live
        in the URL (an API key or hash token as query parameters) were lost on the first
        hop, even to another path of the portal. Here each hop is a request of its own: on
        the portal's origin the auth signs it anew, on another origin it goes without.
        """
        request = self.client.build_request(method, url, headers=headers)
        for _ in range(_MAX_REDIRECTS + 1):
            response = self.client.send(request, stream=True, follow_redirects=False)
            if response.next_request is None:
                return response
            response.close()
            request = response.next_request
        raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request)

    def _get_json(self, url: httpx.URL) -> tuple[Any, httpx.URL, tuple[float, float] | None]:
        """The JSON document at ``url``, the URL it came from (after redirects) and the
        server's clock when it came (:func:`_server_clock`)."""
        what = f"GET {public_url(url)}"
        body = io.BytesIO()
        pace = self.spec.pace()  # a listing trickled byte by byte must not hang the run
        sink = body if pace is None else Paced(body, *pace, what=what)
        try:
            response = self._open(url)
            try:
                for block in response.iter_bytes():
                    sink.write(block)
            finally:
                response.close()
            _check(response, what, url)
        except httpx.HTTPError as exc:
            raise _translate(exc, what) from exc
        try:
            text = body.getvalue().decode(response.encoding or "utf-8")
            return json.loads(text), response.request.url, _server_clock(response)
        except ValueError as exc:  # only the body: a SecretError (a ValueError) is not this
            raise TransferError(f"{what}: the listing is not JSON") from exc

    def list(self) -> Iterator[RemoteItem]:
        spec = self.spec
        first = self.client.base_url.join(spec.list_path)
        url: httpx.URL | None = first
        seen: set[str] = set()
        #: identity -> what was listed of the item, for identities that lost parameters
        #: of the link (see :func:`_stable_identity`)
        shortened: dict[str, tuple[object, ...]] = {}
        while url is not None and str(url) not in seen:
            seen.add(str(url))
            page, url, clock = self._get_json(url)  # links: relative to where the page came from
            items = dig(page, spec.items_path)
            if not isinstance(items, list):
                raise TransferError(
                    f"GET {public_url(url)}: no list at JSON path {spec.items_path!r}"
                )
            for index, entry in enumerate(items):
                item, short = self._item(entry, url, index)
                if short:
                    facts = (item.name, item.size, item.version, item.sha256, item.mtime)
                    if shortened.setdefault(item.identity, facts) != facts:
                        # the same item listed twice (pages that overlap) is no error
                        raise TransferError(
                            f"GET {public_url(url)}: item {index} of the listing and an "
                            f"earlier one are two files, both {item.identity!r} once the "
                            "query parameters a portal hands out anew with each listing "
                            "(tokens, signatures, sessions, expiry times) are taken off their "
                            f"field {spec.id_field!r} (option id_field): here such a "
                            "parameter names the file; set id_field to a field that names "
                            "it, such as the portal's file id"
                        )
                if clock is not None:
                    self._listed_clock[item.identity] = clock
                yield item
            following = dig(page, spec.next_path) if spec.next_path else None
            if following is None or following == "" or isinstance(following, bool):
                url = None  # the last page
            elif spec.cursor_param:  # an opaque cursor for the listing URL
                url = first.copy_set_param(spec.cursor_param, str(following))
            else:
                url = url.join(following) if isinstance(following, str) else None

    def _item(self, entry: Any, page: httpx.URL, index: int) -> tuple[RemoteItem, bool]:
        """The item listed as ``entry`` (item ``index`` of the listing page ``page``), and
        whether parameters a portal hands out anew were taken off its identity."""
        spec = self.spec
        identity = dig(entry, spec.id_field)
        if identity is None:
            raise TransferError(f"GET {public_url(page)}: an item has no field {spec.id_field!r}")
        raw = _without_secrets(str(identity))
        if raw is None:
            raise TransferError(
                f"GET {public_url(page)}: item {index} of the listing: its field "
                f"{spec.id_field!r} (option id_field) holds a credential this process sent "
                "(not shown); an identity is stored (staging manifest, task subject), so set "
                "id_field to a field that holds none, such as the portal's file id"
            )
        identity = _stable_identity(raw)
        listed = dig(entry, spec.name_field) if spec.name_field else None
        name = str(listed) if listed else identity.rstrip("/").rsplit("/", 1)[-1]
        link = dig(entry, spec.url_field) if spec.url_field else None
        if isinstance(link, str) and link:
            location = str(page.join(link))
        elif spec.download_path:
            # the id and name as listed: a token in them may be what the download needs
            location = str(self.client.base_url.join(spec.download_path.format(id=raw, name=name)))
        else:
            raise TransferError(f"GET {public_url(page)}: item {identity!r} has no download URL")
        size = dig(entry, spec.size_field) if spec.size_field else None
        version = dig(entry, spec.version_field) if spec.version_field else None
        sha = dig(entry, spec.sha256_field) if spec.sha256_field else None
        modified = dig(entry, spec.modified_field) if spec.modified_field else None
        try:
            mtime = _modified_time(modified)
        except ValueError:
            raise TransferError(
                f"GET {public_url(page)}: item {identity!r}: its field {spec.modified_field!r} "
                f"(option modified_field) is {modified!r}, not a time (ISO 8601, an HTTP "
                "date or POSIX seconds, not milliseconds)"
            ) from None
        # the staged file's name: without a credential (a query string off before the
        # last segment of a link is taken: a signed link's query holds slashes)
        link_name = _file_name(identity).rstrip("/").rsplit("/", 1)[-1]
        name = _file_name(name) if listed else link_name
        item = RemoteItem(
            identity=identity,
            name=name,
            size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
            version=None if version is None else str(version),
            sha256=None if sha is None else str(sha),
            location=location,
            mtime=mtime,
        )
        return item, identity != raw

    def get(self, item: RemoteItem, sink: Sink) -> None:
        url = httpx.URL(item.location or self.client.base_url.join(item.identity))
        what = f"GET {public_url(url)}"
        try:
            # The file as the portal stores it: a server asked for no encoding does not
            # compress on the fly, and a stored ``.gz`` labelled ``Content-Encoding: gzip``
            # (Apache's AddEncoding) stays the .gz file whose size and checksum are listed.
            response = self._open(url, headers=_AS_STORED)
            try:
                _check(response, what, url, file=True)
                _is_the_file(response, what)
                _note_validator(
                    response,
                    sink,
                    etags=self.spec.etags_tell_versions is not False,
                    modified=self.spec.last_modified_tells_versions is not False,
                )
                _note_name(response, sink)
                # as it arrives (not re-chunked): the sink sees how fast the server sends
                for block in response.iter_raw():
                    sink.write(block)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise _translate(exc, what) from exc

    def _head(self, item: RemoteItem) -> httpx.Response:
        """The answer to a ``HEAD`` of the item's download (closed: headers only). Only a 200
        tells anything (403 from S3 for a URL signed for GET, 405, ...).

        An answer that asks to slow down (429, 503, ...) is a
        :class:`TransientTransferError`, retried after the ``Retry-After`` the portal asks
        for: taken as the file's state, it made the file look changed at the next look, and
        a busy portal's files were left for a later run again and again."""
        url = httpx.URL(item.location or self.client.base_url.join(item.identity))
        what = f"HEAD {public_url(url)}"
        try:
            response = self._open(url, headers=_AS_STORED, method="HEAD")
            response.close()
        except httpx.HTTPError as exc:
            raise _translate(exc, what) from exc
        if response.status_code in _SLOW_DOWN:
            _check(response, what, url)
        return response

    def version_of(self, item: RemoteItem) -> str | None:
        """The download's ETag (or Last-Modified and length), from a HEAD request.

        For listings that name files only: one small request instead of downloading every
        file again on every run. ``None`` when the portal tells neither (or refuses HEAD).
        A new file the settle guard has just asked ``HEAD`` is not asked again.

        Whether the portal's ETags tell versions is asked once per run (of this transfer
        object), of the first file that has one (:meth:`_learn`), unless the settle
        guard's looks told already: a portal that makes one for every answer made
        every file look changed at every run, downloaded again and again; then Last-Modified
        and length are the marker. Where the settle guard's looks showed that its
        ``Last-Modified`` is the time of each answer (see :meth:`changes`), the length (and
        the listed time) are the marker (see :func:`_version`).
        """
        remembered = self._head_version.pop(item.identity, None)  # the settle guard's
        response = remembered or self._head(item)
        spec = self.spec
        if spec.etags_tell_versions is None and _etag(response) is not None:
            self._learn(item, None if remembered else response)
        return _version(
            response,
            item,
            etags=spec.etags_tell_versions is not False,
            modified=spec.last_modified_tells_versions is not False,
        )

    def observe(self, item: RemoteItem) -> Observation:
        """The listed size, version marker and modification time, and what a ``HEAD`` of
        the file tells now (``ETag``, ``Last-Modified``, ``Content-Length``); its age by the
        portal's clock (see :func:`_age`): from the listed modification time and the
        listing's ``Date``, else from ``Last-Modified`` and the ``HEAD``'s ``Date``."""
        response = self._head(item)
        self._remember_version(item, response)
        return self._observed(item, response)

    def _remember_version(self, item: RemoteItem, response: httpx.Response) -> None:
        """Keep what the ``HEAD`` answer ``response`` tells of ``item``'s version for
        :meth:`version_of`; an error answer tells nothing: that asks again."""
        if response.status_code == 200:
            self._head_version[item.identity] = response

    def observe_listed(self, item: RemoteItem) -> Observation | None:
        """The listed size, version marker and modification time, and the age by the
        listing's ``Date``, when the listing gives a size and a modification time
        (``modified_field``): what a growing file changes. ``None`` otherwise (a ``HEAD``
        tells more than the listing)."""
        if item.size is None or item.mtime is None:
            return None
        return Observation(
            (("size", item.size), ("version", item.version), ("modified", item.mtime)),
            _age(item.mtime, self._listed_clock.get(item.identity)),
        )

    def observe_many(self, items: Sequence[RemoteItem]) -> dict[str, Observation]:
        """:meth:`observe` of ``items``, ``parallel_heads`` HEAD requests at a time (the
        httpx client is thread-safe): a first run over thousands of new files waited for
        each in turn. On a failure or an answer that asks to slow down (429, 503, ...) no
        further request is started, and none in parallel later on this connection; those
        items are left to the caller, which observes them one at a time, retrying, as
        without this."""
        width = min(self.spec.parallel_heads, len(items))
        if width <= 1 or self._one_at_a_time:
            return {}
        stop = threading.Event()

        def one(item: RemoteItem) -> Observation | None:
            if stop.is_set():
                return None
            try:
                response = self._head(item)
            except TransferError:  # slowing down (429, 503, ...) too
                stop.set()
                return None
            self._remember_version(item, response)
            return self._observed(item, response)

        with ThreadPoolExecutor(width, thread_name_prefix="stratoflow-head") as pool:
            answers = list(pool.map(one, items))
        self._one_at_a_time = stop.is_set()
        return {
            item.identity: seen
            for item, seen in zip(items, answers, strict=True)
            if seen is not None
        }

    def _observed(self, item: RemoteItem, response: httpx.Response) -> Observation:
        """The observation of ``item`` with the ``HEAD`` answer ``response``.

        The observation holds the answer's ``Date`` (``clock``): a ``Last-Modified`` that
        is not before it is taken for the time of the answer by :meth:`changes`. Its age
        still counts: a file of a portal that stamps its answers so is never older than
        ``min_age`` (do not set one for such a portal).
        """
        ok = response.status_code == 200
        headers = response.headers if ok else httpx.Headers()
        modified, clock = _http_date(headers.get("Last-Modified")), _server_clock(response)
        marker = (
            ("size", item.size),
            ("version", item.version),
            ("modified", item.mtime),
            ("ETag", headers.get("ETag")),
            ("Last-Modified", headers.get("Last-Modified")),
            ("Content-Length", headers.get("Content-Length")),
        )
        age = None
        if item.mtime is not None:
            age = _age(item.mtime, self._listed_clock.get(item.identity))
        elif modified is not None:
            age = _age(modified, clock)
        return Observation(marker, age, clock[0] if ok and clock else None)

    def changes(self, item: RemoteItem, before: Observation, now: Observation) -> str | None:
        """What changed of ``item`` from ``before`` to ``now`` (see
        :meth:`Connection.changes`), where a new ``ETag`` or ``Last-Modified`` alone is no
        change on a portal that makes one for every answer.

        Some portals do (a weak ETag holding a request id; downloads generated on request
        and stamped with the time they are sent): every file looked changed at every look
        and was never taken, or was downloaded again at every run. A ``Last-Modified`` not
        before its answer's ``Date`` at both looks is the time of the answer, no change (a
        file modified within the second of one look and not the other still counts as
        changed; one being written is seen by its growing ``Content-Length`` too). The looks
        tell whether the portal's dates are the files' (:meth:`_learn_dates`); when two
        looks differ in the ETag alone (length, Last-Modified, listed size and time the
        same), two more back to back tell (:meth:`_learn`): a new ETag again, with nothing
        else changed, makes the portal's ETags no version marker, once and for all (logged
        once); the rest decides. Two looks with the same ETag show that the portal's ETags
        hold.
        """
        spec = self.spec
        old, new = dict(before.marker), dict(now.marker)
        differ = {k for k in {*old, *new} if old.get(k) != new.get(k)}
        dates = _Dated.seen(before), _Dated.seen(now)
        if "Last-Modified" in differ and dates[0].same_as(dates[1]):
            differ.discard("Last-Modified")  # the time of each answer
        if not differ <= {"ETag", "Last-Modified"} or (
            "Last-Modified" in differ
            and spec.last_modified_tells_versions is not False
            and not dates[0].followed_by(dates[1])
        ):
            return super().changes(item, before, now)  # the file's date moved: rewritten
        if "ETag" in differ and spec.etags_tell_versions is not False:
            self._learn(item)
        elif old.get("ETag") and "ETag" not in differ and spec.etags_tell_versions is None:
            spec.etags_tell_versions = True
        if "ETag" not in differ or spec.etags_tell_versions is False:
            others = new.get("Content-Length") is not None or _listed(item)
            if new.get("ETag") and "ETag" not in differ and spec.etags_tell_versions:
                others = True
            self._learn_dates(item, *dates, others)
        if all(self._tells(k) is False for k in differ):
            return None
        return super().changes(item, before, now)

    def _tells(self, header: str) -> bool | None:
        """What was learnt of whether the portal's ``header`` (``ETag``, ``Last-Modified``)
        tells versions; see :meth:`_learn`."""
        if header == "ETag":
            return self.spec.etags_tell_versions
        return self.spec.last_modified_tells_versions

    def _learn(self, item: RemoteItem, first: httpx.Response | None = None) -> None:
        """Whether the portal's ETags tell versions, from two ``HEAD`` answers for ``item``
        back to back (``first``, just made, and one more; else two): the same ETag twice
        shows they do (unless another file showed they do not); a different one with the
        same length and Last-Modified shows they do not, where a length or a Last-Modified
        (or a listed size or time) is there to go by instead. The same answers tell of its
        dates too (:meth:`_learn_dates`), where the ETags tell nothing or the same.

        Nothing is learnt from answers that cannot tell (an error, no ETag, the file
        changed meanwhile, nothing else to go by). The portal keeps what they showed
        (:attr:`HttpPortal.etags_tell_versions`), for this run's other files and
        connections; it is logged once per portal and process."""
        spec = self.spec
        first = first or self._head(item)
        second = self._head(item)
        if first.status_code != 200 or second.status_code != 200:
            return  # an error tells nothing
        one, two = _etag(first), _etag(second)
        if one is not None and one == two and spec.etags_tell_versions is None:
            spec.etags_tell_versions = True
        length = first.headers.get("Content-Length")
        if length != second.headers.get("Content-Length"):
            return  # the file is changing: nothing more to learn
        dates = _Dated.of(first), _Dated.of(second)
        if one is not None and two is not None and one != two:
            dated = spec.last_modified_tells_versions is not False
            if dated and not dates[0].same_as(dates[1]):
                return  # the date moved too: the file was rewritten meanwhile?
            file_date = dated and dates[0].modified is not None and not dates[0].stamped
            if not (file_date or length is not None or _listed(item)):
                return  # nothing else would tell a file being written: the ETag stays
            spec.etags_tell_versions = False
            self._report(
                "ETag",
                item,
                "sends a new ETag with every answer (%s asked twice in a row, nothing else "
                "changed): its ETags are no version marker; whether a file changed is told "
                "by its length and Last-Modified (and what the listing tells) instead",
            )
        if one == two or spec.etags_tell_versions is False:
            steady = one is not None and one == two and spec.etags_tell_versions is not False
            self._learn_dates(item, *dates, steady or length is not None or _listed(item))

    def _learn_dates(self, item: RemoteItem, one: _Dated, two: _Dated, others: bool) -> None:
        """Whether the portal's ``Last-Modified`` tells versions, from two answers for
        ``item`` (``one``, then ``two``) with nothing else changed (length, a steady ETag or
        ETags that tell nothing, the listed size and time; ``others``: whether one of these
        is there to go by).

        The same date in answers a second or more apart (by their ``Date``) shows it is the
        file's: it stayed while the time moved. Another date that is as far behind its
        ``Date`` as the first was (within a second: both have whole seconds), or not before
        it at both, shows it follows the time of the answers, where ``others`` tell a file
        being written instead: the portal's dates are no version marker (logged once).
        A date that moved otherwise is the file's, rewritten.

        Only answers a second apart tell: a file of a well-behaved portal written in the
        very second of two answers carries that second in both, as a portal that stamps its
        answers does. The settle guard's looks (:class:`Settle`, 1 s by default) are that
        far apart; without them (``settle`` 0, or a listing compared instead, with
        ``modified_field``) such a portal is told by a download of a second or more, or by
        two answers that fall into two seconds, else its files are downloaded again at
        every run as before. (A file rewritten with the same length just before each of two
        looks, as far before each, is taken for the same.)
        """
        spec = self.spec
        modified, date, modified_now, date_now = (*one, *two)
        if (
            spec.last_modified_tells_versions is False
            or modified is None
            or date is None
            or modified_now is None
            or date_now is None
        ):
            return
        if modified == modified_now:
            stayed = date_now - date >= 1 and modified_now < date_now
            if stayed and spec.last_modified_tells_versions is None:
                spec.last_modified_tells_versions = True
            return
        if not (others and one.followed_by(two)):
            return
        spec.last_modified_tells_versions = False
        self._report(
            "Last-Modified",
            item,
            "stamps Last-Modified with the time of each answer (%s looked at twice, nothing "
            "else changed): it is no version marker; whether a file changed is told by its "
            "length (a steady ETag, what the listing tells) instead, and a file rewritten "
            "with the same length is not seen unless those tell",
        )

    def _report(self, header: str, item: RemoteItem, what: str) -> None:
        """Say, once per portal and process, that ``header`` is no version marker there
        (``what``: the rest of the message, ``%s`` the item it was seen with)."""
        with _REPORTED_LOCK:
            report = (header, self.where) not in _VOLATILE_REPORTED
            _VOLATILE_REPORTED.add((header, self.where))
        if report:
            log.warning("%s: the portal " + what, self.where, item.identity)

    def observe_again(self, item: RemoteItem) -> Observation:
        """:meth:`observe` with a fresh ``HEAD``, the listed facts as they were: a whole
        listing again for every file downloaded would cost a portal more than the file.
        :class:`GoneError` when the portal answers 404 or 410 (deleted since)."""
        response = self._head(item)
        if response.status_code in (404, 410):
            raise GoneError(f"HEAD {public_url(response.request.url)}: gone")
        self._head_version.pop(item.identity, None)  # of the file before its download
        return self._observed(item, response)

    def get_from(self, item: RemoteItem, sink: ResumedSink, offset: int) -> None:
        """A ``Range`` request for the rest, guarded by ``If-Range`` (RFC 9110 §13.1.5).

        Only the same version of the file is continued: the server answers the whole file
        (200) when its ETag or date changed, and then the sink starts over. The validator is
        the one the server gave with the bytes held (kept by the staging area with them, so a
        later run has it too), else the HEAD version marker's. Without one, a download is
        resumed only when the listing announces a checksum.
        """
        url = httpx.URL(item.location or self.client.base_url.join(item.identity))
        validator = sink.validator or _validator_of(item.version)
        if validator is None and item.sha256 is None:
            sink.restart()
            self.get(item, sink)
            return
        headers = {**_AS_STORED, "Range": f"bytes={offset}-"}
        if validator is not None:
            headers["If-Range"] = validator
        what = f"GET {public_url(url)}"
        try:
            while True:
                headers["Range"] = f"bytes={offset}-"
                response = self._open(url, headers=headers)
                try:
                    if response.status_code == 416:  # nothing after offset
                        if _complete_length(response) == offset and sink.validator is not None:
                            return  # the bytes held are the whole file: only the end was lost
                        break  # the file shrank, or the server does not say: from the start
                    _check(response, what, url, file=True)
                    span = _content_range(response)
                    if (
                        response.status_code == 206
                        and span is not None
                        and span[0] == offset
                        and _same_version(response, validator)
                    ):
                        _note_name(response, sink)
                        received = 0
                        for block in response.iter_raw():
                            sink.write(block)
                            received += len(block)
                        first, last, total = span
                        if received != last - first + 1:
                            raise TransientTransferError(
                                f"{what}: the server sent {received} bytes for the range "
                                f"{first}-{last}"
                            )
                        if total is None or last + 1 >= total:
                            return
                        # A part short of the end (servers and CDNs that cap the size of a
                        # range): ask for the rest, else the file would be staged cut short.
                        offset = last + 1
                        continue
                    if response.status_code == 200:  # the whole file (a new version)
                        sink.restart()
                        _note_validator(
                            response,
                            sink,
                            etags=self.spec.etags_tell_versions is not False,
                            modified=self.spec.last_modified_tells_versions is not False,
                        )
                        _note_name(response, sink)
                        for block in response.iter_raw():
                            sink.write(block)
                        return
                    break
                finally:
                    response.close()
        except httpx.HTTPError as exc:
            raise _translate(exc, what) from exc
        sink.restart()  # a range we did not ask for, or none at all: from the start
        self.get(item, sink)

    def put(self, source: Path, name: str) -> str:
        spec = self.spec
        if not spec.upload_path:
            raise ConfigError(f"transfer 'http' {self.where}: no upload_path configured")
        url = self.client.base_url.join(spec.upload_path.format(name=name))
        what = f"{spec.upload_method} {public_url(url)}"
        try:
            fh = source.open("rb")
        except OSError as exc:
            raise TransferError(f"{what}: cannot read {source}: {exc.strerror}") from exc
        with fh:
            try:
                if spec.upload_field:
                    # httpx streams a file object in a multipart body (and rewinds it on replay).
                    response = self.client.request(
                        spec.upload_method, url, files={spec.upload_field: (name, fh)}
                    )
                else:
                    size = os.fstat(fh.fileno()).st_size
                    response = self.client.request(
                        spec.upload_method,
                        url,
                        content=_FileBody(fh),
                        headers={"Content-Length": str(size)},
                    )
                _check(response, what)
            except httpx.HTTPError as exc:
                raise _translate(exc, what) from exc
        return name


class _FileBody(httpx.SyncByteStream):
    """An upload body read from an open file in chunks, from the start on every iteration.

    Exports can be hundreds of MB, so the body is never held in memory. An auth flow may send
    the same request twice (OAuth2 after a refused token, the hash token after a clock
    correction); an iterator would be exhausted the second time and a plain file object would
    continue from its end, so each iteration rewinds. The length is announced separately
    (``Content-Length``): portals often refuse chunked uploads.
    """

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    def __iter__(self) -> Iterator[bytes]:
        self._fh.seek(0)
        while block := self._fh.read(_CHUNK):
            yield block
