"""Forms of the review pages: they check input; the services decide and record."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from stratoflow.errors import QCConfigError, StratoflowError
from stratoflow.flags import Flag
from stratoflow.qc import evaluation_names, get_evaluation, parse_config_text
from stratoflow.server.review.services import MANUAL_FLAG_CHOICES

__all__ = [
    "ApproveForm",
    "EvaluateForm",
    "ManualFlagForm",
    "QueueFilterForm",
    "RejectForm",
    "RerunForm",
]

_DATETIME_FORMATS = [
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
]


def _methods() -> list[tuple[str, str]]:
    return [(name, name) for name in evaluation_names()]


class QueueFilterForm(forms.Form):
    """Filters of the review queue (all optional)."""

    platform = forms.CharField(required=False, label="aircraft / platform")
    project = forms.CharField(required=False)
    variable = forms.CharField(required=False, label="instrument / variable")
    date_from = forms.DateField(required=False, label="from")
    date_to = forms.DateField(required=False, label="to")


def _declared(method: str) -> set[str] | None:
    """The parameter names evaluation ``method`` declares (None: it cannot be loaded)."""
    try:
        return {p.name for p in get_evaluation(method).parameters}
    except StratoflowError:
        return None


class EvaluateForm(forms.Form):
    """Another evaluation method or thresholds over the stored test results.

    The page fills the fields with the current method's thresholds, so a PI leaving ``vote``
    would still send its ``k``, which ``worst`` does not know (refused). A parameter the
    chosen method does not declare is therefore dropped here, and the method select names
    each method's parameters (``data-parameters``) so the page disables the others.
    """

    THRESHOLDS = ("good", "bad", "k")

    method = forms.ChoiceField(choices=_methods)
    good = forms.FloatField(required=False, min_value=0.0, max_value=1.0, help_text="p >= good")
    bad = forms.FloatField(required=False, min_value=0.0, max_value=1.0, help_text="p < bad")
    k = forms.IntegerField(required=False, min_value=1, help_text="vote: tests needed")
    reason = forms.CharField(required=False, widget=forms.TextInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        declared = {name: _declared(name) for name in evaluation_names()}
        self.fields["method"].widget.attrs["data-parameters"] = json.dumps(
            {name: sorted(p & set(self.THRESHOLDS)) for name, p in declared.items() if p}
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        declared = _declared(str(data.get("method", "")))
        if declared is not None:
            for name in self.THRESHOLDS:
                if name not in declared:
                    data[name] = None
        return data


class RerunForm(forms.Form):
    """Re-run QC on the stored values with a configuration (YAML; empty = shipped defaults)."""

    config = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 70, "spellcheck": "false"}),
        help_text="QC configuration in YAML; empty: the shipped defaults",
    )
    method = forms.ChoiceField(
        required=False, choices=lambda: [("", "(configuration's)"), *_methods()]
    )
    reason = forms.CharField(required=False, widget=forms.TextInput)

    def clean_config(self) -> dict[str, Any] | None:
        text = self.cleaned_data.get("config") or ""
        if not text.strip():
            return None
        try:  # the errors of a configuration file: one line, with line, column and key
            _, data = parse_config_text(text, "QC configuration")
        except QCConfigError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if not isinstance(data, dict):
            raise forms.ValidationError("the configuration must be a mapping of profiles")
        return data


class ManualFlagForm(forms.Form):
    """A flag on a time range of some variables, with the mandatory reason."""

    variables = forms.MultipleChoiceField(widget=forms.SelectMultiple(attrs={"size": 5}))
    start = forms.DateTimeField(input_formats=_DATETIME_FORMATS, help_text="UTC")
    end = forms.DateTimeField(input_formats=_DATETIME_FORMATS, help_text="UTC")
    flag = forms.TypedChoiceField(
        coerce=int,
        choices=[(int(f), f.label) for f in MANUAL_FLAG_CHOICES],
        initial=int(Flag.BAD),
    )
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 40}))

    def __init__(self, *args: Any, variables: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["variables"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(v, v) for v in variables]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise forms.ValidationError("the range ends before it starts")
        if not str(data.get("comment", "")).strip():
            self.add_error("comment", "a manual flag needs a comment saying why")
        return data


class ApproveForm(forms.Form):
    """Release to a data level: the state the page showed, which must still be current."""

    level = forms.ChoiceField(choices=[("L1", "L1 validated"), ("L2", "L2 final")])
    reason = forms.CharField(required=False, widget=forms.TextInput)
    #: the ReviewState token of the page: what the PI saw and approves (see flight_approve)
    reviewed = forms.CharField(widget=forms.HiddenInput, max_length=64)


class RejectForm(forms.Form):
    """Reject, saying why."""

    reason = forms.CharField(widget=forms.TextInput)

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data.get("reason", "")).strip()
        if not reason:
            raise forms.ValidationError("a rejection needs a reason")
        return reason
