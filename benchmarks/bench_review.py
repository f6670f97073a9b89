"""Review page benchmark: a 10-hour 1 Hz flight with 10 variables (360 000 points).

Measured in one run on the same stored flight (embedded SQLite in a temporary home):

* stratoflow: the review page's plot payload (:func:`stratoflow.server.review.plots.plot_payload`:
  min/max decimation to 4000 points per variable plus every flagged point, base64 typed
  arrays, gzip) for the whole flight and for a 30-minute zoom window; the HTML page build; and,
  when ``/usr/bin/chromium`` exists, the time from navigation to drawn plots and from a zoom to
  the redrawn window in headless Chromium;
* reference: the same data as a full-resolution Plotly figure from plotly.py
  (``go.Figure([go.Scattergl(...)]).to_json()``, what ``fig.to_html`` would embed) and as naive
  JSON lists (ISO time strings, numbers), each also gzipped.

Usage: ``python benchmarks/bench_review.py [--hours 10] [--step 1] [--no-browser]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import machine, timed

CHROMIUM = Path("/usr/bin/chromium")


def build_flight(hours: float, step: int) -> Any:
    """Store a generated flight with 10 variables, QC'd with the defaults; returns the Flight."""
    from stratoflow.dataset import TIME, data_variables, make_dataset
    from stratoflow.samples import generate_flight
    from stratoflow.server.catalog.models import Flight
    from stratoflow.server.catalog.qc import qc_series
    from stratoflow.server.catalog.services import series_import

    ds = generate_flight(seed=4, hours=hours, step_s=step).dataset
    variables = {name: (ds[name].values, dict(ds[name].attrs)) for name in data_variables(ds)}
    for name in ("O3", "CO"):  # a second instrument for two species: 10 variables
        values, attrs = variables[name]
        variables[f"{name}_B"] = (values * 1.02, attrs)
    attrs = {**ds.attrs, "source_checksum": "bench", "reader": "bench"}
    ds = make_dataset(ds[TIME].values, variables, attrs=attrs)
    result = series_import(ds, identity="bench/flight.nc", size=0)
    qc_series(result.series, ds)
    return Flight.objects.get(pk=result.series[0].flight_id)


def plotly_reference(flight: Any) -> bytes:
    """The full-resolution figure plotly.py would produce for the same series."""
    import plotly.graph_objects as go

    from stratoflow.server.catalog.selectors import series_arrays, series_qc_flags

    series = list(flight.series.filter(is_current=True).order_by("id"))
    fig = go.Figure()
    for k, s in enumerate(series):
        arrays = series_arrays(s)
        fig.add_trace(
            go.Scattergl(
                x=arrays["time"],
                y=arrays["value"],
                mode="markers",
                marker={"color": series_qc_flags(s), "size": 3},
                yaxis=f"y{k + 1}" if k else "y",
                name=s.variable,
            )
        )
    return fig.to_json().encode()


def naive_reference(flight: Any) -> bytes:
    """Plain JSON lists: ISO time strings, numbers and flags per variable."""
    from stratoflow.server.catalog.selectors import series_arrays, series_qc_flags

    out = {}
    for s in flight.series.filter(is_current=True).order_by("id"):
        arrays = series_arrays(s)
        out[s.variable] = {
            "t": np.datetime_as_string(arrays["time"], unit="s").tolist(),
            "v": [None if not np.isfinite(v) else float(v) for v in arrays["value"]],
            "f": series_qc_flags(s).tolist(),  # type: ignore[union-attr]
        }
    return json.dumps(out).encode()


def browser(flight: Any, password: str) -> dict[str, float] | None:
    """Navigation -> drawn plots, and zoom -> redrawn window, in headless Chromium."""
    if not CHROMIUM.exists():
        return None
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application
    from playwright.sync_api import sync_playwright

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server(
        "127.0.0.1", 0, StaticFilesHandler(get_wsgi_application()), handler_class=Quiet
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    ident = flight.identifier
    out: dict[str, float] = {}
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
            )
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/review/login/")
            page.fill("#id_username", "bench")
            page.fill("#id_password", password)
            page.click("#login")
            page.wait_for_url("**/review/")
            for _ in range(2):  # second time: plotly.js cached, as for a PI
                start = time.perf_counter()
                page.goto(f"{base}/review/flight/{ident}/")
                page.wait_for_selector("#plots[data-ready='1']", timeout=60_000)
                out["page_to_plots_s"] = time.perf_counter() - start
            out["status"] = 0.0
            print(f"  browser status line: {page.inner_text('#plot-status')}")
            t0 = page.evaluate("window.stratoflowReview.vars[0].x[0]")
            start = time.perf_counter()
            page.evaluate(
                "r => { document.getElementById('plots').dataset.ready = '0';"
                " Plotly.relayout('plots', {'xaxis.range': r}); }",
                [t0 + 3_600_000, t0 + 5_400_000],
            )
            page.wait_for_selector("#plots[data-ready='1']", timeout=60_000)
            out["zoom_to_redraw_s"] = time.perf_counter() - start
            print(f"  after zoom:          {page.inner_text('#plot-status')}")
            b.close()
    finally:
        server.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=10.0)
    parser.add_argument("--step", type=int, default=1, help="seconds between points (1)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="stratoflow-bench-review-")
    os.environ["STRATOFLOW_HOME"] = home
    os.environ["STRATOFLOW_DATABASE_URL"] = ""
    os.environ.setdefault("STRATOFLOW_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    from stratoflow.server import setup

    setup(migrate=True)
    from django.contrib.auth.models import User
    from django.test import Client

    from stratoflow.server.review.plots import payload_json, plot_payload

    print("machine:", machine("django", "plotly"))
    start = time.perf_counter()
    flight = build_flight(args.hours, args.step)
    n = sum(s.n_points for s in flight.series.filter(is_current=True))
    nvar = flight.series.filter(is_current=True).count()
    print(
        f"flight: {args.hours:g} h at {args.step} s, {nvar} variables, {n:,} points "
        f"(import + QC {time.perf_counter() - start:.1f} s)"
    )

    t_whole, whole = timed(lambda: payload_json(plot_payload(flight)), args.repeat)
    t0 = plot_payload(flight, budget=2)["t0"]
    t_zoom, zoom = timed(
        lambda: payload_json(plot_payload(flight, start_ms=t0 + 3.6e6, end_ms=t0 + 5.4e6)),
        args.repeat,
    )
    t_plotly, ref = timed(lambda: plotly_reference(flight), 1)
    t_naive, naive = timed(lambda: naive_reference(flight), 1)
    sent = sum(v["n_sent"] for v in json.loads(whole)["variables"])
    sent_zoom = sum(v["n_sent"] for v in json.loads(zoom)["variables"])

    password = "bench-password"
    User.objects.create_user("bench", password=password, is_staff=True)
    client = Client()
    client.login(username="bench", password=password)
    url = f"/review/flight/{flight.identifier}/"
    t_page, page = timed(lambda: client.get(url), args.repeat)
    assert page.status_code == 200

    def row(name: str, seconds: float, body: bytes, points: int | str = "") -> None:
        gz = len(gzip.compress(body, 5))
        print(
            f"  {name:<34} {seconds * 1000:8.0f} ms {len(body) / 1e6:8.2f} MB "
            f"{gz / 1e6:8.2f} MB gz  {points}"
        )

    print(f"\n  {'':<34} {'build':>11} {'JSON':>11} {'gzipped':>11}  points sent")
    row("stratoflow payload, whole flight", t_whole, whole, f"{sent:,}")
    row("stratoflow payload, 30-min zoom", t_zoom, zoom, f"{sent_zoom:,}")
    row("stratoflow HTML page", t_page, page.content)
    row("reference: plotly.py full figure", t_plotly, ref, f"{n:,}")
    row("reference: naive JSON lists", t_naive, naive, f"{n:,}")
    gz_whole = len(gzip.compress(whole, 5))
    print(
        f"\n  ratio payload size (gzipped) plotly.py full figure / stratoflow whole flight: "
        f"{len(gzip.compress(ref, 5)) / gz_whole:.1f}x; naive JSON / stratoflow: "
        f"{len(gzip.compress(naive, 5)) / gz_whole:.1f}x"
    )
    print(f"  ratio build time plotly.py figure / stratoflow payload: {t_plotly / t_whole:.1f}x")
    if not args.no_browser:
        timing = browser(flight, password)
        if timing is None:
            print("\n  browser: /usr/bin/chromium missing, skipped")
        else:
            print(
                f"\n  headless Chromium (software GL): navigation -> plots drawn "
                f"{timing['page_to_plots_s'] * 1000:.0f} ms; zoom -> window redrawn "
                f"{timing['zoom_to_redraw_s'] * 1000:.0f} ms"
            )


if __name__ == "__main__":
    main()
