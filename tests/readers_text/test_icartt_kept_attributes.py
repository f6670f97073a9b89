"""Global attributes our ICARTT writer keeps in the normal comments come back as attributes.

The writer stores what ICARTT has no line for as ``attribute <name>: <value>`` comments; a
user opening the file again (``stratoflow inspect``, an import) expects them among the
dataset's attributes, not encoded in a comment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stratoflow import open_dataset, write_dataset
from stratoflow.dataset import make_dataset


def test_an_icartt_file_we_wrote_reads_back_with_its_attributes(tmp_path: Path) -> None:
    times = np.array(["2024-01-01T12:00:00", "2024-01-01T12:00:04"], dtype="datetime64[ns]")
    ds = make_dataset(
        times,
        {"O3": (np.array([41.5, 42.0]), {"units": "1e-9", "long_name": "ozone"})},
        attrs={
            "title": "Ozone over Frankfurt",
            "history": "read\nexported",
            "levels": [1.0, 2.5],
            "pi": "Jörg Müller",
            "source_file": "elsewhere.nc",
            "platform": "D-AIGT",
        },
    )
    path = write_dataset(ds, tmp_path / "TEST-O3_D-AIGT_20240101_R0.ict", writer="icartt")
    back = open_dataset(path)
    assert back.attrs["title"] == "Ozone over Frankfurt"
    assert back.attrs["history"] == "read\nexported"
    assert back.attrs["levels"] == [1.0, 2.5]
    # the header's own lines win; what describes the file read is the reader's
    assert back.attrs["pi"] == "Jorg Muller"
    assert back.attrs["source_file"] == path.name
    assert back.attrs["file_format"].startswith("ICARTT FFI 1001")
