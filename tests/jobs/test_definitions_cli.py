"""YAML job definitions and the job/backfill commands, on a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from stratoflow.cli import main

pytestmark = pytest.mark.django_db(transaction=True)

JOBS = """
providers:
  - {name: portal, concurrency: 2}
transfers:
  - name: portal-http
    provider: portal
    type: http
    options: {base_url: "http://127.0.0.1:1/api/", list_path: files}
    auth: bearer
    auth_options: {token: "env:PORTAL_TOKEN"}
jobs:
  - name: import-flights
    responsible: pi
    schedule: {frequency: daily, start: "2026-03-27T02:30", timezone: Europe/Berlin}
    catch_up: {policy: all, cap: 5}
    managers:
      - {name: import, kind: noop, concurrency: 3, options: {tasks: 2}}
  - name: export-flights
    schedule: {frequency: weekly, interval: 2, start: "2026-03-23T06:00", timezone: UTC}
    depends_on: [import-flights]
    managers:
      - {name: export, kind: noop, options: {tasks: 1}}
      - {name: notify, kind: noop, order: 5}
"""


@pytest.fixture
def jobs_file(tmp_path: Path, django_user_model: type) -> Path:
    django_user_model.objects.create(username="pi", email="pi@example.org")
    path = tmp_path / "jobs.yaml"
    path.write_text(JOBS)
    return path


def test_load_is_idempotent_and_a_changed_file_updates(
    jobs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.workflow.models import Job, TaskManager

    assert main(["job", "load", str(jobs_file)]) == 0
    out = capsys.readouterr().out
    assert "created: provider portal, transfer portal-http, job import-flights" in out
    job = Job.objects.get(name="import-flights")
    assert (job.frequency, job.timezone, job.catch_up, job.catch_up_cap) == (
        "daily",
        "Europe/Berlin",
        "all",
        5,
    )
    assert job.responsible is not None and job.responsible.username == "pi"
    export = Job.objects.get(name="export-flights")
    assert list(export.depends_on.values_list("name", flat=True)) == ["import-flights"]
    assert list(export.managers.values_list("name", "order")) == [("export", 0), ("notify", 5)]

    assert main(["job", "load", str(jobs_file)]) == 0
    out = capsys.readouterr().out
    assert "created" not in out and "updated" not in out and "unchanged: provider portal" in out

    jobs_file.write_text(
        JOBS.replace("concurrency: 3", "concurrency: 1").replace(
            "      - {name: notify, kind: noop, order: 5}\n", ""
        )
    )
    assert main(["job", "load", str(jobs_file)]) == 0
    out = capsys.readouterr().out
    assert "updated: job import-flights, job export-flights" in out
    assert "removed: manager export-flights/notify" in out
    assert TaskManager.objects.get(name="import").concurrency == 1
    assert not TaskManager.objects.filter(name="notify").exists()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "kind: noop, concurrency: 3",
            "kind: imprt, concurrency: 3",
            "jobs[0].managers[0].kind: unknown kind 'imprt'",
        ),
        (
            "timezone: Europe/Berlin",
            "timezone: Europe/Berlni",
            "jobs[0].schedule: unknown timezone",
        ),
        ("policy: all", "policy: some", "jobs[0].catch_up.policy: use one of skip, latest, all"),
        ("depends_on: [import-flights]", "depends_on: [nope]", "jobs[1].depends_on: no job named"),
        ("responsible: pi", "responsible: nobody", "jobs[0].responsible: no user named 'nobody'"),
        (
            "    managers:\n      - {name: import",
            "    managrs:\n      - {name: import",
            "jobs[0].managrs: unknown key",
        ),
        (
            "schedule: {frequency: daily",
            "schedule: {frequency: yearly",
            "jobs[0].schedule: unknown frequency 'yearly'",
        ),
        (  # transfer definitions are checked by building the handler a task would use
            "options: {base_url:",
            "options: {url:",
            "transfers[0].options: transfer type 'http': invalid options",
        ),
        ("type: http", "type: htp", "transfers[0].type: unknown transfer type 'htp'"),
        ("auth: bearer", "auth: berer", "transfers[0].auth: unknown auth 'berer'"),
        (  # an address option's error is the options', though its message speaks of auth
            'options: {base_url: "http://127.0.0.1:1/api/"',
            'options: {base_url: "http://u:pw@127.0.0.1:1/api/"',
            "transfers[0].options: transfer 'http': base_url must not carry a user name",
        ),
        (
            "options: {tasks: 2}",
            "options: {taks: 2}",
            "jobs[0].managers[0].options: taks: unknown option of 'noop' managers",
        ),
        (
            "auth: bearer",
            "auth: ssh",
            "transfers[0].auth_options: auth 'ssh': invalid options: missing a required argument",
        ),
        # wrong types are refused, not coerced ('no' is a true string) or crashed on
        (
            "    catch_up: {policy: all",
            "    enabled: 'no'\n    catch_up: {policy: all",
            "jobs[0].enabled: expected true or false, not 'no'",
        ),
        (
            "    catch_up: {policy: all",
            "    description: [a, b]\n    catch_up: {policy: all",
            "jobs[0].description: expected a string",
        ),
        (
            "{name: portal, concurrency: 2}",
            "{name: portal, contact: null, url: [x]}",
            "providers[0].url: expected a string",
        ),
        (
            'auth_options: {token: "env:PORTAL_TOKEN"}',
            "auth_options: abc",
            "transfers[0].auth_options: expected a mapping, not str",
        ),
        (
            'options: {base_url: "http://127.0.0.1:1/api/", list_path: files}',
            "options: [a]",
            "transfers[0].options: expected a mapping, not list",
        ),
        (
            "list_path: files}",
            "list_path: files, timeout: .nan}",
            "option 'timeout' must be a finite number, not nan",
        ),
        ("list_path: files}", "list_path: 5}", "option 'list_path' must be a string, not 5"),
        (
            "concurrency: 3, options:",
            "concurrency: 3, retry_delay: .inf, options:",
            "jobs[0].managers[0].retry_delay: expected finite seconds >= 0, not inf",
        ),
        (
            "concurrency: 3, options:",
            "concurrency: 3, retry_delay: .nan, options:",
            "jobs[0].managers[0].retry_delay: expected finite seconds >= 0, not nan",
        ),
        (
            "  - name: portal-http\n",
            "  - name: ../../escape\n",
            "transfers[0].name: a transfer name cannot start with '.'",
        ),
        (
            "  - name: export-flights\n",
            "  - name: import-flights\n",
            "jobs[1].name: 'import-flights' is defined twice (also at [0])",
        ),
    ],
)
def test_errors_point_at_the_offending_key(
    jobs_file: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    from stratoflow.server.workflow.models import Job

    assert old in JOBS
    jobs_file.write_text(JOBS.replace(old, new, 1))
    assert main(["job", "load", str(jobs_file)]) == 1
    err = capsys.readouterr().err
    assert message in err and str(jobs_file) in err
    assert not Job.objects.exists()  # all or nothing


def test_a_managers_task_timeout_is_set_in_the_file(
    jobs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A task's timeout (after which a hung task is abandoned) could only be set in the
    admin: ``timeout`` was an unknown key of a manager in the file."""
    from stratoflow.server.workflow.models import TaskManager

    jobs_file.write_text(JOBS.replace("concurrency: 3, options:", "timeout: 120, options:"))
    assert main(["job", "load", str(jobs_file)]) == 0, capsys.readouterr().err
    assert TaskManager.objects.get(name="import").timeout == 120
    assert TaskManager.objects.get(name="export").timeout == 3600  # the default
    jobs_file.write_text(JOBS.replace("concurrency: 3, options:", "timeout: 0, options:"))
    assert main(["job", "load", str(jobs_file)]) == 1
    assert "jobs[0].managers[0].timeout: expected an integer >= 1, not 0" in (
        capsys.readouterr().err
    )


def test_inline_secrets_are_refused_without_echoing_them(
    jobs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs_file.write_text(JOBS.replace('"env:PORTAL_TOKEN"', "s3cr3t-Value"))
    assert main(["job", "load", str(jobs_file)]) == 1
    err = capsys.readouterr().err
    assert "transfers[0].auth_options.token: secrets only by reference" in err
    assert "s3cr3t" not in err
    jobs_file.write_text(JOBS.replace('"env:PORTAL_TOKEN"', '"file:/run/secrets/portal"'))
    assert main(["job", "load", str(jobs_file)]) == 0


def test_a_dependency_cycle_in_a_file_is_rejected(
    jobs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cyclic = JOBS.replace(
        "    catch_up: {policy: all, cap: 5}\n",
        "    catch_up: {policy: all, cap: 5}\n    depends_on: [export-flights]\n",
    )
    jobs_file.write_text(cyclic)
    assert main(["job", "load", str(jobs_file)]) == 1
    err = capsys.readouterr().err
    assert "depends_on" in err and "dependency cycle" in err


def test_job_next_and_backfill(jobs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stratoflow.server.workflow.models import JobRun

    assert main(["job", "load", str(jobs_file)]) == 0
    capsys.readouterr()
    assert main(["job", "next", "import-flights", "-n", "3", "--json"]) == 0
    upcoming = json.loads(capsys.readouterr().out)
    assert len(upcoming) == 3 and all(
        u.endswith(("T02:30:00+01:00", "T02:30:00+02:00")) or u.endswith("T03:00:00+02:00")
        for u in upcoming
    )
    assert main(["job", "next", "nope"]) == 1
    assert "no job named 'nope'" in capsys.readouterr().err

    # the spring-forward day runs at 03:00 CEST
    args = ["backfill", "import-flights", "--from", "2026-03-28", "--to", "2026-03-30T23:00"]
    assert main([*args, "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "would create 3 run(s):",
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]
    assert not JobRun.objects.exists()
    assert main([*args, "--run"]) == 0
    out = capsys.readouterr().out
    assert "created 3 run(s):" in out and out.count(": succeeded") == 3
    assert main(args) == 0  # nothing missing any more
    assert capsys.readouterr().out.strip() == "created 0 run(s):"
    assert JobRun.objects.filter(state="succeeded").count() == 3


def test_job_run_prints_progress_lines_when_not_on_a_terminal(
    jobs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["job", "load", str(jobs_file)]) == 0
    capsys.readouterr()
    assert main(["job", "run", "import-flights"]) == 0
    captured = capsys.readouterr()
    assert "import: 2/2 done, 0 failed" in captured.err
    assert "import: 2 new task(s); 2 done" in captured.out
    assert "succeeded" in captured.out


def test_job_run_live_display(jobs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["job", "load", str(jobs_file)]) == 0
    capsys.readouterr()
    assert main(["job", "run", "import-flights", "--progress", "live"]) == 0
    err = capsys.readouterr().err
    assert "manager" in err and "tasks/s" in err and "ETA" in err


def test_job_retry_requeues_and_reruns_failed_tasks(
    jobs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.workflow.models import TaskManager

    assert main(["job", "load", str(jobs_file)]) == 0
    assert main(["job", "retry", "import-flights"]) == 1
    assert "no failed run to retry" in capsys.readouterr().err
    TaskManager.objects.filter(name="import").update(options={"tasks": 2, "fail": [1]})
    assert main(["job", "run", "import-flights"]) == 1
    TaskManager.objects.filter(name="import").update(options={"tasks": 2})
    capsys.readouterr()
    assert main(["job", "retry", "import-flights"]) == 0
    out = capsys.readouterr().out
    assert "1 task(s) queued again" in out and out.strip().endswith("succeeded")


def test_job_list_and_show_tell_schedule_history_and_failures(
    jobs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs_file.write_text(JOBS.replace("options: {tasks: 2}", "options: {tasks: 2, fail: [1]}"))
    assert main(["job", "load", str(jobs_file)]) == 0
    assert main(["job", "list"]) == 0
    out = capsys.readouterr().out
    assert "import-flights: every day from 2026-03-27T02:30+01:00 (Europe/Berlin)" in out
    assert "never run" in out and "every 2 weeks" in out
    from stratoflow.commands.job import _schedule_text
    from stratoflow.server.workflow.models import Job

    once = Job.objects.get(name="export-flights")
    once.frequency, once.interval = "once", 1
    assert _schedule_text(once) == "once at 2026-03-23T06:00+00:00 (UTC)"
    assert main(["job", "run", "import-flights", "--progress", "plain"]) == 1
    capsys.readouterr()
    assert main(["job", "show", "import-flights", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    (run,) = info["runs"]
    assert run["state"] == "failed" and run["tasks"] == {"done": 1, "failed": 1}
    assert run["failed"] == [
        {"manager": "import", "subject": "noop #1",
         "error": "noop task #1 fails permanently (as configured)"}
    ]  # fmt: skip
    assert [m["name"] for m in info["managers"]] == ["import"]
    assert main(["job", "show", "import-flights"]) == 0
    out = capsys.readouterr().out
    assert "failed (1 done, 1 failed)" in out and "failed import/noop #1: noop task #1" in out
    assert main(["job", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["import-flights"]["last_run"]["state"] == "failed"
    assert rows["export-flights"]["last_run"] is None
    assert main(["job", "show", "nope"]) == 1
    assert "no job named 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "shown"), [(".nan", ".nan"), (".inf", ".inf"), ("[1, -.inf]", "-.inf")]
)
def test_options_that_are_not_finite_numbers_are_refused_naming_the_key(
    value: str, shown: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.workflow.models import Job

    path = tmp_path / "jobs.yaml"
    path.write_text(
        f"jobs:\n  - name: nan\n    managers:\n"
        f"      - {{name: work, kind: noop, options: {{tasks: 1, sleep: {value}}}}}\n"
    )
    assert main(["job", "load", str(path)]) == 1
    err = capsys.readouterr().err
    assert "jobs[0].managers[0].options.sleep" in err and f"{shown} is not a number" in err
    assert "Traceback" not in err and not Job.objects.exists()


@pytest.mark.parametrize("timeout", ["-5", "0", ".nan"])
def test_a_transfer_timeout_must_be_positive_seconds(
    timeout: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "providers:\n  - {name: portal}\ntransfers:\n  - name: portal-http\n    provider: portal\n"
        f"    type: http\n    options: {{base_url: 'http://127.0.0.1:1/', timeout: {timeout}}}\n"
    )
    assert main(["job", "load", str(path)]) == 1
    err = capsys.readouterr().err
    assert "transfers[0]" in err and "timeout" in err and "Traceback" not in err


def test_transfer_types_refuse_a_timeout_that_is_not_positive() -> None:
    from stratoflow.errors import ConfigError
    from stratoflow.transfer.ftp import FTPServer
    from stratoflow.transfer.http import HttpPortal
    from stratoflow.transfer.sftp import SFTPServer

    with pytest.raises(ConfigError, match=r"transfer 'http': timeout .* not -1"):
        HttpPortal(base_url="http://127.0.0.1:1/", timeout=-1)
    with pytest.raises(ConfigError, match=r"SFTP 127.0.0.1:22: timeout .* not 0"):
        SFTPServer(host="127.0.0.1", timeout=0)
    with pytest.raises(ConfigError, match=r"FTP 127.0.0.1:21: timeout .* not -0.5"):
        FTPServer(host="127.0.0.1", timeout=-0.5)


@pytest.mark.parametrize("value", ["abc", "nan", "-1", "0", "inf"])
def test_a_bad_lease_time_is_a_clear_error_and_starts_no_run(
    value: str,
    jobs_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from stratoflow.server.workflow.models import JobRun

    assert main(["job", "load", str(jobs_file)]) == 0
    monkeypatch.setenv("STRATOFLOW_LEASE_SECONDS", value)
    assert main(["job", "run", "import-flights"]) == 1
    err = capsys.readouterr().err
    assert (
        f"STRATOFLOW_LEASE_SECONDS must be a number of seconds > 0 (default 60), not {value!r}"
        in err
    )
    assert "Traceback" not in err and not JobRun.objects.exists()


def test_the_heartbeat_thread_outlives_an_invalid_lease_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process's heartbeat thread, started by an earlier run, reads the setting on every
    beat: a command refusing a bad value must not kill it (it died with a ConfigError)."""
    from stratoflow.server.workflow.leases import DEFAULT_LEASE_SECONDS, Heartbeat

    monkeypatch.setenv("STRATOFLOW_LEASE_SECONDS", "0")
    assert Heartbeat()._next_wait() == DEFAULT_LEASE_SECONDS / 3


def test_a_beat_under_an_invalid_lease_setting_renews_for_the_default_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A beat raised ConfigError (logged with a traceback by the heartbeat thread, in the
    middle of the command's own clear error) and renewed nothing."""
    from stratoflow.server.workflow.leases import Heartbeat

    beat = Heartbeat(interval=3600.0)
    try:
        beat.hold_task("claim-of-a-running-task")
        monkeypatch.setenv("STRATOFLOW_LEASE_SECONDS", "-1")
        beat.beat()
    finally:
        beat.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-03-27", "--to", "2099-01-01"], "--to 2099-01-01 is in the future"),
        (["--from", "2019-02-30", "--to", "2019-03-02"], "--from '2019-02-30' is not an ISO"),
        (["--from", "2026-03-27", "--to", "2026-02-29T10:00"], "(day is out of range for month)"),
    ],
)
def test_backfill_refuses_future_and_impossible_instants(
    args: list[str], message: str, jobs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.workflow.models import JobRun

    assert main(["job", "load", str(jobs_file)]) == 0
    capsys.readouterr()
    assert main(["backfill", "import-flights", *args]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not JobRun.objects.exists()


def test_reprocess_refuses_an_impossible_date(
    jobs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["job", "load", str(jobs_file)]) == 0
    assert main(["job", "reprocess", "import-flights", "--since", "2019-02-30"]) == 1
    err = capsys.readouterr().err
    assert "--since '2019-02-30'" in err and "day is out of range" in err


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("options: {tasks: 2}", "options: &o {tasks: 2, again: [*o]}", "contains itself"),
        (
            "  - {name: portal, concurrency: 2}",
            "  - &p {name: portal, concurrency: 2, x: *p}",
            "contains itself",
        ),
        (
            "options: {tasks: 2}",
            "options: {tasks: 2, big: *l5}",
            "billion laughs",
        ),
    ],
)
def test_yaml_that_contains_itself_or_explodes_is_refused(
    jobs_file: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, says: str
) -> None:
    """``job load`` says why, instead of a traceback (circular options reached the JSON
    column) or expanding millions of values into a task manager's options."""
    from stratoflow.server.workflow.models import Job

    laughs = "\n".join(
        ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 6)]
    )
    text = JOBS.replace(old, new, 1)
    if "*l5" in new:
        text = f"x-anchors:\n  {laughs.replace(chr(10), chr(10) + '  ')}\n" + text
    jobs_file.write_text(text)
    assert main(["job", "load", str(jobs_file)]) == 1
    err = capsys.readouterr().err
    assert "not valid YAML" in err and says in err and str(jobs_file) in err, err
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        # a data file given by mistake: was a UnicodeDecodeError traceback
        (b"\x89HDF\r\n\x1a\n\x00\x00", "job definitions must be YAML text, but this is not UTF-8"),
        # was PyYAML's multi-line message quoting "<unicode string>"
        (b"jobs: [a\n", "job definitions: line 2, column 1: not valid YAML: did not find"),
    ],
)
def test_job_load_of_a_file_that_is_no_yaml_is_one_line_naming_it(
    content: bytes, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stratoflow.server.workflow.models import Job

    path = tmp_path / "jobs.yaml"
    path.write_bytes(content)
    assert main(["job", "load", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"stratoflow job: error: {path}: {says}"), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not Job.objects.exists()


def test_renamed_or_dropped_managers_keep_their_task_history(
    jobs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``renamed_from`` keeps a manager's tasks under its new name; a manager with tasks that
    is no longer listed is removed only with ``--prune``, after a refusal that says what
    would be deleted (the load used to delete it, and by cascade its history)."""
    from stratoflow.server.workflow.models import Task, TaskManager

    assert main(["job", "load", str(jobs_file)]) == 0
    assert main(["job", "run", "import-flights"]) == 0
    manager = TaskManager.objects.get(job__name="import-flights", name="import")
    assert Task.objects.filter(manager=manager).count() == 2
    capsys.readouterr()

    renamed = JOBS.replace(
        "{name: import, kind: noop,", "{name: fetch, renamed_from: import, kind: noop,"
    )
    jobs_file.write_text(renamed)
    assert main(["job", "load", str(jobs_file)]) == 0
    assert "updated: job import-flights" in capsys.readouterr().out
    fetch = TaskManager.objects.get(job__name="import-flights", name="fetch")
    assert fetch.pk == manager.pk and Task.objects.filter(manager=fetch).count() == 2
    assert main(["job", "load", str(jobs_file)]) == 0  # idempotent, renamed_from stays
    assert "unchanged: " in capsys.readouterr().out and Task.objects.count() == 2

    dropped = renamed.replace(
        "{name: fetch, renamed_from: import, kind: noop, concurrency: 3, options: {tasks: 2}}",
        "{name: other, kind: noop}",
    )
    assert dropped != renamed
    jobs_file.write_text(dropped)
    assert main(["job", "load", str(jobs_file)]) == 1
    err = capsys.readouterr().err
    assert (
        "jobs[0].managers: manager 'fetch' is no longer listed but has 2 task(s) in 1 run(s)" in err
    )
    assert "renamed_from" in err and "--prune" in err
    assert Task.objects.filter(manager=fetch).count() == 2  # all or nothing: nothing changed
    assert not TaskManager.objects.filter(name="other").exists()

    assert main(["job", "load", "--prune", str(jobs_file)]) == 0
    out = capsys.readouterr().out
    assert "removed: manager import-flights/fetch (2 task(s) in 1 run(s)" in out, out
    assert not Task.objects.exists()
    assert TaskManager.objects.filter(job__name="import-flights", name="other").exists()


def test_renamed_from_must_not_be_ambiguous(
    jobs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["job", "load", str(jobs_file)]) == 0
    jobs_file.write_text(
        JOBS.replace(
            "{name: notify, kind: noop,", "{name: notify, renamed_from: export, kind: noop,"
        )
    )
    assert main(["job", "load", str(jobs_file)]) == 1
    assert "managers[1].renamed_from: manager 'export' is listed too" in capsys.readouterr().err


def test_a_provider_url_with_credentials_is_refused_without_echoing_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], admin_client: Client
) -> None:
    """The descriptive URL is stored and shown, never used to log in: no user:password@ in it,
    from a job file or the admin."""
    from stratoflow.server.workflow.models import DataProvider

    path = tmp_path / "jobs.yaml"
    path.write_text(
        "providers:\n  - {name: portal, url: 'https://alice:Hunter2-pw@portal.example/'}\n"
    )
    assert main(["job", "load", str(path)]) == 1
    err = capsys.readouterr().err
    assert "providers[0].url: must not carry a user name or password" in err
    assert "Hunter2" not in err and not DataProvider.objects.exists()

    page = admin_client.post(
        "/admin/workflow/dataprovider/add/",
        {"name": "portal", "url": "https://alice:Hunter2-pw@portal.example/", "concurrency": 0},
    )
    assert page.status_code == 200 and not DataProvider.objects.exists()
    assert "must not carry a user name or password" in page.content.decode()
    path.write_text("providers:\n  - {name: portal, url: 'https://portal.example/data'}\n")
    assert main(["job", "load", str(path)]) == 0
    assert DataProvider.objects.get().url == "https://portal.example/data"
