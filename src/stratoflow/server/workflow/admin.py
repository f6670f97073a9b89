"""Admin pages for providers, transfer handlers, jobs and their runs.

Thin: validation is the models' ``clean()`` and the services' (a dependency cycle is refused
by the form through :func:`~stratoflow.server.workflow.definitions.dependencies_set`'s check),
actions call services.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet, URLField
from django.http import HttpRequest
from django.utils.html import format_html_join

from stratoflow.errors import StratoflowError
from stratoflow.server.workflow import models, services
from stratoflow.server.workflow.definitions import dependency_cycle
from stratoflow.server.workflow.selectors import NEXT_SHOWN


@admin.register(models.DataProvider)
class DataProviderAdmin(admin.ModelAdmin[models.DataProvider]):
    list_display = ["name", "contact", "url", "licence", "concurrency"]
    search_fields = ["name"]
    # a URL typed without scheme is https (Django 6's default; 5.x warns on every form)
    formfield_overrides = {URLField: {"assume_scheme": "https"}}


@admin.register(models.TransferHandler)
class TransferHandlerAdmin(admin.ModelAdmin[models.TransferHandler]):
    list_display = ["name", "provider", "transfer_type", "auth"]
    list_filter = ["transfer_type", "auth"]


#: The admin's help for a task manager's options (the model's help_text would need a migration).
OPTIONS_HELP = (
    'import: {"qc": {"config": "<name of a stored QC configuration, name@N for its version N, '
    'or a YAML file path>", "evaluation": "worst"}, "reader": ...}; {"qc": false} skips QC; '
    "no config: the default QC configuration. Export: format and selection."
)


def _options_help(field: forms.Field | None, db_field: Any) -> forms.Field | None:
    if field is not None and db_field.name == "options":
        field.help_text = OPTIONS_HELP
    return field


class TaskManagerFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]
    """Refuses deleting, from the job's page, a manager that has task history.

    Its tasks would go with it (what it imported or exported, which later runs and
    re-processing rely on) after a mere tick in a checkbox, where ``job load`` refuses the
    same without ``--prune``. The manager's own delete page lists what would be deleted and
    asks for confirmation; renaming it keeps its tasks.
    """

    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            manager = form.instance
            deleting = getattr(form, "cleaned_data", {}).get("DELETE", False)
            if not manager.pk or not self.can_delete or not deleting:
                continue
            count = manager.tasks.count()
            if count:
                raise forms.ValidationError(
                    f"manager {manager.name!r} has {count} task(s) of history, which deleting "
                    "it would delete too; rename it to keep them, or delete it from its own "
                    "page (Task managers), which lists what would be deleted"
                )


class TaskManagerInline(admin.TabularInline[models.TaskManager, models.Job]):
    model = models.TaskManager
    extra = 0
    formset = TaskManagerFormSet

    def formfield_for_dbfield(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        return _options_help(super().formfield_for_dbfield(db_field, request, **kwargs), db_field)


class JobForm(forms.ModelForm[models.Job]):
    class Meta:
        model = models.Job
        fields = [
            "name",
            "description",
            "responsible",
            "enabled",
            "frequency",
            "interval",
            "start",
            "timezone",
            "end",
            "catch_up",
            "catch_up_cap",
            "depends_on",
            "order",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        deps = data.get("depends_on")
        name = data.get("name") or self.instance.name
        if deps is not None and name:
            cycle = dependency_cycle(name, [d.name for d in deps])
            if cycle is not None:
                self.add_error("depends_on", f"dependency cycle: {' -> '.join(cycle)}")
        return data


@admin.register(models.Job)
class JobAdmin(admin.ModelAdmin[models.Job]):
    form = JobForm
    list_display = [
        "name",
        "enabled",
        "frequency",
        "interval",
        "timezone",
        "catch_up",
        "responsible",
        "order",
    ]
    list_filter = ["enabled", "frequency"]
    filter_horizontal = ["depends_on"]
    readonly_fields = ["next_runs", "scheduled_until", "enabled_at"]
    inlines = [TaskManagerInline]
    actions = ["reprocess"]

    def save_model(
        self, request: HttpRequest, obj: models.Job, form: forms.ModelForm[models.Job], change: bool
    ) -> None:
        """Switched back on, the job records when (it catches up nothing from before)."""
        obj.enabled_at = services.job_enabled_at(obj, obj.enabled)
        super().save_model(request, obj, form, change)

    @admin.action(description="Re-process imported files with the current processing")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[models.Job]) -> None:
        """Queue, as a run for the scheduler, the files whose configuration changed since."""
        for job in queryset:
            try:
                report = services.job_reprocess(job, execute=False)
            except StratoflowError as exc:
                self.message_user(request, f"{job.name}: {exc}", messages.WARNING)
                continue
            queued = sum(len(plan.items) for plan in report.plans)
            where = f" in run {report.run.run_id} for the scheduler" if report.run else ""
            self.message_user(request, f"{job.name}: {queued} file(s) to re-process{where}")
            for blocked in report.blocked[:20]:
                self.message_user(
                    request,
                    f"{job.name}: cannot re-process {blocked.identity}: {blocked.reason}",
                    messages.WARNING,
                )

    @admin.display(description=f"next {NEXT_SHOWN} runs")
    def next_runs(self, job: models.Job) -> str:
        try:
            upcoming = job.next_occurrences(NEXT_SHOWN)
        except StratoflowError as exc:
            return f"invalid schedule: {exc}"
        if not upcoming:
            return "none (no start, ended, or once and past)"
        return format_html_join("", "{}<br>", ((occ.isoformat(),) for occ in upcoming))


@admin.register(models.TaskManager)
class TaskManagerAdmin(admin.ModelAdmin[models.TaskManager]):
    list_display = ["job", "name", "kind", "order", "transfer", "concurrency", "max_attempts"]
    list_filter = ["kind"]

    def formfield_for_dbfield(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        return _options_help(super().formfield_for_dbfield(db_field, request, **kwargs), db_field)


@admin.register(models.JobRun)
class JobRunAdmin(admin.ModelAdmin[models.JobRun]):
    list_display = ["job", "scheduled_for", "state", "started_at", "finished_at", "owner"]
    list_filter = ["state", "job"]
    actions = ["retry_failed"]

    @admin.action(description="Retry failed tasks")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[models.JobRun]) -> None:
        total = 0
        for run in queryset:
            try:
                total += services.run_retry_failed(run)
            except StratoflowError as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"{total} failed task(s) queued again")


@admin.register(models.Task)
class TaskAdmin(admin.ModelAdmin[models.Task]):
    list_display = ["manager", "subject", "state", "attempts", "created_at", "finished_at"]
    list_filter = ["state", "manager"]
    search_fields = ["subject", "key"]


@admin.register(models.SchedulerLease)
class SchedulerLeaseAdmin(admin.ModelAdmin[models.SchedulerLease]):
    list_display = ["name", "holder", "expires_at", "renewed_at"]
