"""Item links that carry a token handed out anew with each listing make no new items.

A portal whose links carry a download token, a session id or a signature (a presigned S3,
GCS or Azure link, a CDN's signed URL), with ``id_field`` on that link: the item's identity,
what staging remembers it by, changed with every listing. Every run saw every file as new,
downloaded it again and staged it once more (a second import of the same data), and the
token was stored with it. The identity is the link without such parameters; the download
uses the link as listed (the portal refuses it without its token).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from stratoflow.errors import TransferError
from stratoflow.transfer import DataProvider, HttpPortal, StagingArea, TransferHandler
from stratoflow.transfer.auth.none import NoAuth

from ._helpers import assert_nowhere, chain_texts, import_job, portal_options, tasks_by_subject
from ._portal import Portal
from .conftest import FAST_RETRY
from .test_settle import _written_a_minute_ago

#: The start of every value in a link that changes from one listing to the next
MARK = "vOl4t1le"

#: link query (``{n}``: the listing's number, ``{token}``: a token handed out with it) ->
#: the query the identity keeps
LINKS = {
    "token": (f"token={{token}}&expires={MARK}{{n}}", ""),
    "kept-parameters": (
        f"format=netcdf&sessionid={MARK}{{n}}&version=2",
        "?format=netcdf&version=2",
    ),
    "s3": (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F2026%2F"
        f"{MARK}{{n}}&X-Amz-Date=20261129T0000{{n:02d}}Z&X-Amz-Expires=3600&"
        f"X-Amz-SignedHeaders=host&X-Amz-Signature={MARK}{{n}}",
        "",
    ),
    "gcs-v2": (f"GoogleAccessId=svc%40proj.iam&Expires={MARK}{{n}}&Signature={MARK}{{n}}", ""),
    "azure-sas": (
        f"sv=2022-11-02&st=2026-11-29T00%3A{{n:02d}}Z&se=2026-11-30T{MARK}{{n}}&sr=b&sp=r&"
        f"sig={MARK}{{n}}",
        "?sv=2022-11-02&sr=b&sp=r",
    ),
    "cloudfront": (
        f"Expires={{n}}&Policy={MARK}{{n}}&Signature={MARK}{{n}}&Key-Pair-Id=K{MARK}{{n}}",
        "",
    ),
    "access-token": (f"access_token={MARK}{{n}}&ts={{n}}", ""),
}


def _run(portal: Portal, **options: object) -> TransferHandler:
    """A run over ``portal`` with ``id_field`` on the items' links (no settle guard unless
    ``options`` say)."""
    config = {"id_field": "url", "settle": 0, **options}
    transfer = HttpPortal.from_config(
        {"base_url": portal.url, "list_path": "api/files", "timeout": 5, **config}
    )
    return TransferHandler(
        transfer=transfer, auth=NoAuth(), provider=DataProvider(name="Tokens"), retry=FAST_RETRY
    )


def _downloads(portal: Portal) -> list[str]:
    return [r for r in portal.requests if r.startswith("GET /files/")]


@pytest.mark.parametrize("style", list(LINKS))
def test_a_link_signed_anew_for_every_listing_is_one_item(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    style: str,
) -> None:
    """The identity is the link without its token, signature and expiry (the other
    parameters kept, in order); the next run, whose links are signed anew, fetches nothing
    again; nothing that changed from one listing to the next is stored or logged."""
    caplog.set_level(logging.DEBUG)
    query, kept = LINKS[style]
    names = [f"f{i}.nc" for i in range(3)]  # two listing pages
    for name in names:
        (remote_root / name).write_bytes(f"data of {name}".encode())
    portal = portal_factory(link_query=query)
    staging = StagingArea(tmp_path / "staging")

    staged = _run(portal).fetch_new(staging)
    assert sorted(s.identity for s in staged) == [f"/files/{n}{kept}" for n in names]
    assert sorted(s.name for s in staged) == names
    assert len(_downloads(portal)) == 3

    for again in range(2):  # a second and a third listing, each with new links
        assert _run(portal).fetch_new(staging) == [], again
    assert len(_downloads(portal)) == 3
    assert portal.listings >= 6
    assert_nowhere(MARK, caplog=caplog, dirs=[staging.root])
    for token in portal.tokens_handed:
        assert_nowhere(token, caplog=caplog, dirs=[staging.root])


def test_the_download_uses_the_link_as_listed(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """The portal refuses a download without a token of a listing (403): the file is
    still fetched, through the listed link; with the settle guard's ``HEAD`` too."""
    (remote_root / "f.nc").write_bytes(b"data")
    _written_a_minute_ago(remote_root / "f.nc")
    portal = portal_factory(link_query="token={token}")
    [staged] = _run(portal, settle=0.2).fetch_new(StagingArea(tmp_path / "staging"))
    assert staged.identity == "/files/f.nc"
    assert staged.path.read_bytes() == b"data"


def test_a_token_that_names_the_file_is_an_error_not_one_item(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """A portal whose links are ``/download?token=<the file's own token>``: without the
    token all its files would be one item (one fetched, the others never). The listing is
    refused, naming the option to set; the token is not shown."""
    for i in range(3):
        (remote_root / f"f{i}.nc").write_bytes(b"x" * (i + 1))
    portal = portal_factory(links_by_token=True)
    with pytest.raises(TransferError) as info:
        _run(portal, name_field=None).list()
    message = str(info.value)
    assert "both '/download' once the query parameters" in message
    assert "set id_field to a field that names it" in message
    for i in range(3):
        assert_nowhere(portal.file_token(f"f{i}.nc"), texts=chain_texts(info.value))
    # a field that names each file: all are fetched
    staged = _run(portal, id_field="id").fetch_new(StagingArea(tmp_path / "staging"))
    assert sorted(s.name for s in staged) == ["f0.nc", "f1.nc", "f2.nc"]


def test_parameters_that_name_the_item_stay_in_its_identity(
    portal_factory: Callable[..., Portal], remote_root: Path, tmp_path: Path
) -> None:
    """Names that could name the item are kept, in a link without a signature (a station
    ``st``, a ``date``, an object ``key``) and in one with a token (``date``, ``key``)."""
    (remote_root / "f.nc").write_bytes(b"data")
    for query, identity in (
        ("st=ZUG&date=20261129&key=a%2Fb", "/files/f.nc?st=ZUG&date=20261129&key=a%2Fb"),
        ("date=20261129&key=a&token={token}&author=x", "/files/f.nc?date=20261129&key=a&author=x"),
    ):
        portal = portal_factory(link_query=query)
        [staged] = _run(portal).fetch_new(StagingArea(tmp_path / f"staging-{len(identity)}"))
        assert staged.identity == identity


@pytest.mark.django_db(transaction=True)
def test_a_job_keeps_no_token_of_a_link(
    portal_factory: Callable[..., Portal],
    remote_root: Path,
    staging_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Through a job: one task per file, its subject the link without its token, none
    added by the next run; no token in the database, the log or the staging folder."""
    from stratoflow.server.workflow.services import job_run

    caplog.set_level(logging.DEBUG)
    for i in range(3):
        (remote_root / f"f{i}.nc").write_bytes(f"data {i}".encode())
    portal = portal_factory(link_query=f"token={{token}}&expires={MARK}{{n}}")
    job = import_job("tokens", "http", portal_options(portal.url, id_field="url"))
    job_run(job)
    job_run(job)
    assert set(tasks_by_subject(job)) == {f"/files/f{i}.nc" for i in range(3)}
    assert len(_downloads(portal)) == 3
    assert_nowhere(MARK, caplog=caplog, database=True, dirs=[staging_dir])
    for token in portal.tokens_handed:
        assert_nowhere(token, caplog=caplog, database=True, dirs=[staging_dir])
