"""The one lock around this process's calls into netCDF-C and HDF5.

Neither library is thread-safe in the builds pip installs: two threads reading, or one
reading while another writes, crashed the process with a segmentation fault or "double free or
corruption" (xarray's own locking does not cover attribute reads). Imports and exports run in
threads (the scheduler's driver threads, a thread-pool executor), so the netCDF readers and
the netCDF writer hold :data:`LIBRARY_LOCK` while they touch a file. It is re-entrant: one read
opens a file several times.
"""

from __future__ import annotations

import threading

__all__ = ["LIBRARY_LOCK"]

LIBRARY_LOCK = threading.RLock()
