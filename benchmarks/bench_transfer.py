"""Benchmark of the transfer layer: fetch_new into the staging area vs the bare library.

Run ``python benchmarks/bench_transfer.py`` (``--quick`` for a smoke run). For the same files in
the same run it times:

- HTTP: ``TransferHandler.fetch_new`` (paginated listing, streaming download, SHA-256 on the fly,
  fsync, atomic rename, manifest) vs a bare httpx loop streaming each file to disk;
- local directory: ``fetch_new`` vs ``shutil.copyfile`` of each file.

Printed: MB/s for us and the reference and the ratio (ours / reference; 1.0 = as fast).
Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from _common import machine
from stratoflow.transfer import (
    DataProvider,
    HttpPortal,
    LocalDirectory,
    StagingArea,
    TransferHandler,
)
from stratoflow.transfer.auth.none import NoAuth


def make_server(root: Path) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/api/files":
                page = int(parse_qs(parts.query).get("page", ["1"])[0])
                names = sorted(p.name for p in root.iterdir())
                chunk = names[(page - 1) * 50 : page * 50]
                more = page * 50 < len(names)
                body = json.dumps(
                    {
                        "items": [
                            {"id": n, "size": (root / n).stat().st_size, "url": f"/files/{n}"}
                            for n in chunk
                        ],
                        "next": f"/api/files?page={page + 1}" if more else None,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            path = root / parts.path.removeprefix("/files/")
            self.send_response(200)
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            with path.open("rb") as fh:
                shutil.copyfileobj(fh, self.wfile, 1 << 20)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def best_of(fn: Callable[[], Any], repeat: int, reset: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        reset()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    args = parser.parse_args()
    count, size, repeat = (4, 256 * 1024, 1) if args.quick else (40, 4 * 1024 * 1024, 3)
    total_mb = count * size / 1e6
    print("machine:", machine("httpx"))
    print(f"data: {count} files x {size / 1e6:.1f} MB = {total_mb:.0f} MB, best of {repeat}")

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        remote = tmp / "remote"
        remote.mkdir()
        for i in range(count):
            (remote / f"file_{i:03d}.nc").write_bytes(os.urandom(size))
        out = tmp / "out"

        def reset() -> None:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()

        server = make_server(remote)
        url = f"http://127.0.0.1:{server.server_address[1]}"
        provider = DataProvider(name="bench")
        http = TransferHandler(
            transfer=HttpPortal(base_url=url, list_path="api/files"),
            auth=NoAuth(),
            provider=provider,
        )
        # settle=0: the settle wait (a fixed second per run, to see that no file is still
        # being written) is no part of the throughput measured here
        local = TransferHandler(
            transfer=LocalDirectory(root=str(remote), settle=0), auth=NoAuth(), provider=provider
        )

        def bare_httpx() -> None:
            with httpx.Client(base_url=url) as client:
                page: str | None = "/api/files"
                while page:
                    listing = client.get(page).json()
                    for item in listing["items"]:
                        with (
                            client.stream("GET", item["url"]) as r,
                            (out / item["id"]).open("wb") as fh,
                        ):
                            for block in r.iter_bytes(1 << 16):
                                fh.write(block)
                    page = listing["next"]

        def bare_copy() -> None:
            for path in sorted(remote.iterdir()):
                shutil.copyfile(path, out / path.name)

        rows = [
            (
                "http",
                best_of(lambda: http.fetch_new(StagingArea(out)), repeat, reset),
                best_of(bare_httpx, repeat, reset),
                "bare httpx stream",
            ),
            (
                "local",
                best_of(lambda: local.fetch_new(StagingArea(out)), repeat, reset),
                best_of(bare_copy, repeat, reset),
                "shutil.copyfile",
            ),
        ]
        server.shutdown()

    print(f"{'type':6} {'ours MB/s':>10} {'ref MB/s':>10} {'ratio':>6}  reference")
    for name, ours, ref, what in rows:
        print(f"{name:6} {total_mb / ours:10.1f} {total_mb / ref:10.1f} {ref / ours:6.2f}  {what}")
    print(
        "ours = list + stream + SHA-256 + fsync + atomic rename + manifest; ratio = ours/ref speed"
    )


if __name__ == "__main__":
    main()
