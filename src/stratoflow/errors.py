"""One error tree for everything stratoflow raises on purpose.

Callers catch :class:`StratoflowError` to handle any expected failure; the subclasses say which
layer failed. Third-party exceptions are translated at the boundary (``raise ... from exc``) so
that no ``httpx``/``paramiko``/``netCDF4`` exception leaks to a caller. Messages name the thing
(file, line, variable, job) and, where possible, what to do. They never contain secrets.

::

    StratoflowError
    ├── ConfigError (ValueError)             a configuration, option or job definition is wrong
    │   ├── PluginNotFound (LookupError)     unknown plugin name; lists the installed ones
    │   ├── ScheduleError                    an invalid schedule
    │   ├── QCConfigError                    an invalid QC configuration or test parameter
    │   ├── SecretError                      a secret reference cannot be resolved
    │   ├── CatalogError                     catalog metadata breaks a rule (overlap, cycle, key)
    │   └── UsageError                       arguments that contradict each other (the output
    │                                        is the input); the CLI exits with status 2
    ├── DatasetError (ValueError)            a Dataset breaks the standardized-Dataset contract
    ├── ReaderError                          a file cannot be parsed (names file, line, defect)
    ├── TimeUnitsError (ValueError)          a '<unit> since <date>' string cannot be read as UTC;
    │                                        callers add the file/variable it came from
    ├── WriterError                          a Dataset cannot be written in a format
    ├── TransferError                        talking to an external system failed
    │   ├── TransientTransferError           worth retrying (timeouts, 5xx, resets)
    │   ├── AuthError                        credentials refused (401/403, host key); never retried
    │   ├── GoneError                        the provider no longer has the item (404/410,
    │   │                                    FTP 550, SFTP no such file); never retried
    │   └── StagingError                     the local staging area cannot take a file (disk
    │                                        full, no permission); never retried
    ├── ImportFailed                         the importer could not store a Dataset
    ├── QCError                              a QC test failed to run
    ├── ExportError                          the exporter could not assemble/deliver a Dataset
    │   └── ExportIncomplete                 some flights of a selection failed, the others were
    │                                        exported (stratoflow.exporters.export)
    ├── MailError (smtplib.SMTPException)    the SMTP server cannot be reached, secured or logged
    │                                        in to (names the server, never the password)
    └── TaskError                            task/job orchestration failed
        ├── IllegalTransition                a state change the state machine forbids
        ├── TaskTimedOut                     a task ran past its manager's timeout; retried
        └── TaskWaitTimeout                  a task waited too long for its turn; retried

Example::

    try:
        ds = stratoflow.open_dataset("flight.nc")
    except stratoflow.errors.ReaderError as exc:
        print(exc)   # "flight.nc: line 12: expected 5 values, found 4"
"""

from __future__ import annotations

import smtplib

__all__ = [
    "AuthError",
    "CatalogError",
    "ConfigError",
    "DatasetError",
    "ExportError",
    "GoneError",
    "IllegalTransition",
    "ImportFailed",
    "MailError",
    "PluginNotFound",
    "QCConfigError",
    "QCError",
    "ReaderError",
    "ScheduleError",
    "SecretError",
    "StagingError",
    "StratoflowError",
    "TaskError",
    "TaskTimedOut",
    "TaskWaitTimeout",
    "TimeUnitsError",
    "TransferError",
    "TransientTransferError",
    "UsageError",
    "WriterError",
]


class StratoflowError(Exception):
    """Base class of every error stratoflow raises deliberately."""


class ConfigError(StratoflowError, ValueError):
    """A configuration value, plugin option or job definition is invalid."""


class PluginNotFound(ConfigError, LookupError):
    """No plugin of that name is installed for an extension point."""


class ScheduleError(ConfigError):
    """A schedule cannot be constructed from the given values."""


class QCConfigError(ConfigError):
    """A QC configuration or a test parameter is invalid."""


class SecretError(ConfigError):
    """A secret reference (``env:NAME``, ``file:/path``) cannot be resolved."""


class CatalogError(ConfigError):
    """Catalog metadata breaks a rule: overlapping periods, a cycle, an unknown reference."""


class UsageError(ConfigError):
    """Arguments that each look fine but contradict each other, e.g. an output that is the
    input file under another name.

    argparse checks one argument at a time; what only the combination shows is found by the
    command and raised as this, which ``stratoflow`` reports like argparse's own usage errors
    (one line, exit status 2) rather than as a failure of the work (status 1).
    """


class DatasetError(StratoflowError, ValueError):
    """A Dataset does not satisfy the standardized-Dataset contract."""


class ReaderError(StratoflowError):
    """A source cannot be parsed. The message names the file, the line if known, and the defect.

    ``path`` and ``line`` are kept as attributes for programs that want them.
    """

    def __init__(self, message: str, *, path: object = None, line: int | None = None) -> None:
        prefix = ""
        if path is not None:
            prefix = f"{path}: "
        if line is not None:
            prefix += f"line {line}: "
        super().__init__(prefix + message)
        self.path = path
        self.line = line


class TimeUnitsError(StratoflowError, ValueError):
    """A CF/UDUNITS time units string (``seconds since 2024-01-01 00:00:00 +01:00``) cannot be
    turned into a UTC reference instant. The message names the string and the defect; the
    reader or step that met it re-raises it with the file or variable."""


class WriterError(StratoflowError):
    """A Dataset cannot be written in the requested format."""


class TransferError(StratoflowError):
    """Communication with an external system failed."""


class TransientTransferError(TransferError):
    """A transfer failure that is worth retrying (timeout, 5xx, connection reset).

    ``retry_after`` is how many seconds the server asked us to wait (HTTP ``Retry-After``
    on a 429 or 503), when it said so.
    """

    def __init__(self, *args: object, retry_after: float | None = None) -> None:
        super().__init__(*args)
        self.retry_after = retry_after


class AuthError(TransferError):
    """The external system refused the credentials or could not be authenticated."""


class GoneError(TransferError):
    """The provider does not have the item (any more): HTTP 404/410, FTP 550, SFTP "no such
    file". Downloading again cannot help; a fresh listing tells whether it was deleted (gone at
    the provider) or is still listed with a broken link.
    """


class StagingError(TransferError):
    """A fetched file cannot be written to the local staging area (disk full, permissions).

    Not the provider's fault and not cured by downloading again: a fetch stops at once.
    """


class ImportFailed(StratoflowError):
    """The importer could not store a Dataset; nothing of it was stored."""


class QCError(StratoflowError):
    """A QC test or evaluation could not run."""


class ExportError(StratoflowError):
    """The exporter could not select, assemble or deliver data."""


class MailError(StratoflowError, smtplib.SMTPException):
    """The SMTP server could not be reached, secured or logged in to (the message names it).

    Also an :class:`smtplib.SMTPException`, so code that tolerates mail trouble (a run's
    review notice, retried later) keeps tolerating it.
    """


class TaskError(StratoflowError):
    """Job, task manager or task orchestration failed."""


class IllegalTransition(TaskError):
    """A task or run was asked to move to a state its state machine forbids."""


class TaskTimedOut(TaskError, TimeoutError):
    """A task ran past its manager's ``timeout``: it was stopped (a Celery worker's soft time
    limit), or it finished too late to record what it did (its run had given up on it).

    A :class:`TimeoutError` too, so it is retried like other transient failures until the
    manager's ``max_attempts`` are spent.
    """


class TaskWaitTimeout(TaskError, TimeoutError):
    """A task gave up waiting for its turn (behind one that hangs); worth another attempt.

    A :class:`TimeoutError` too, so it is retried like other transient failures.
    """
