"""The injector desk's form: parsing, field-level errors, and where the patient id goes.

Forms are posted as ``application/x-www-form-urlencoded`` (parsed here with the standard
library: no multipart dependency). The clinic's own patient id is read from the body, turned
into its keyed pseudonym (the one `prepare` computes) and dropped: :class:`DeskForm` holds the
pseudonym only, and the values echoed back into the form (:attr:`DeskForm.values`) never
include the id. Type and presence checks happen here, every field at once; the clinical rules
(known region and product, dose > 0, bulk 1-4, ...) are those of `bonta advise`
(:mod:`analysis.advice`), whose first error is mapped back to its field by
:func:`field_error_from_advice`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import pandas as pd

from analysis.advice.advise import PastEpisode
from analysis.data.pseudonym import pseudonymise
from analysis.errors import AdviceInputError, BontaError

#: Largest form body accepted (bytes).
MAX_FORM_BYTES = 64_000
#: Rows of manual past-episode entry on the desk.
MANUAL_ROWS = 3
#: The field that carries the clinic's patient id (never echoed, logged or stored).
ID_FIELD = "patient_id"

LABELS = {
    ID_FIELD: "Patient id",
    "region": "Region",
    "product": "Product",
    "units": "Units",
    "muscle_bulk": "Muscle bulk",
    "exercise_met_h_week": "Exercise (MET-h/week)",
    "sex": "Sex",
    "age_years": "Age (years)",
    "baseline_severity": "Baseline severity",
    "cycle": "Treatment cycle",
    "treatment_date": "Treatment date",
    "event_date": "Event date",
    "history": "Past episodes",
}


class FormError(BontaError):
    """The form has field errors (:attr:`errors`); the page shows each beside its field."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        super().__init__("; ".join(e.message for e in self.errors))


@dataclass(frozen=True)
class FieldError:
    """One bad field: its name, the value as typed (``None`` for the patient id) and the rule."""

    field: str
    value: str | None
    rule: str

    @property
    def message(self) -> str:
        label = LABELS.get(self.field, self.field.replace("_", " "))
        shown = f" (value {self.value!r})" if self.value not in (None, "") else ""
        return f"{label}{shown}: {self.rule}"


@dataclass(frozen=True)
class DeskForm:
    """A parsed desk form. ``patient_key`` is the pseudonym of the id typed (``None``: none)."""

    patient_key: str | None
    id_given: bool
    region: str
    product: str
    units: float
    muscle_bulk: float
    exercise_met_h_week: float
    sex: str | None
    age_years: float | None
    baseline_severity: float
    treatment_date: dt.date
    event_date: dt.date | None
    manual: tuple[PastEpisode, ...]
    values: dict[str, str] = field(default_factory=dict)


def parse_urlencoded(body: bytes) -> dict[str, str]:
    """Fields of a url-encoded form body (last value wins); :class:`FormError` if malformed."""
    if len(body) > MAX_FORM_BYTES:
        raise FormError([FieldError("form", None, f"larger than {MAX_FORM_BYTES} bytes")])
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=200
        )
    except (UnicodeDecodeError, ValueError):
        raise FormError([FieldError("form", None, "not a url-encoded UTF-8 form")]) from None
    return {k: v.strip() for k, v in pairs}


def patient_key_of(raw_id: str, key: bytes) -> str:
    """The keyed pseudonym `prepare` gives the clinic's patient id ``raw_id`` (in memory)."""
    try:
        hashed = pseudonymise(pd.Series([raw_id.strip()], dtype=object), key, "patient")
    except Exception:  # noqa: BLE001 (never let a message carry the id)
        raise FormError([FieldError(ID_FIELD, None, "could not be read")]) from None
    return str(hashed.iloc[0])


def parse_desk_form(fields: dict[str, str], key: bytes | None, today: dt.date) -> DeskForm:
    """Parse the desk form; raise :class:`FormError` listing every bad field.

    The patient id is pseudonymised with ``key`` when both are present and then forgotten.
    """
    raw_id = fields.pop(ID_FIELD, "")
    id_given = bool(raw_id)
    patient_key = patient_key_of(raw_id, key) if id_given and key is not None else None
    del raw_id
    errors: list[FieldError] = []
    f = _Reader(fields, errors)
    form = DeskForm(
        patient_key=patient_key,
        id_given=id_given,
        region=f.text("region"),
        product=f.text("product"),
        units=f.number("units"),
        muscle_bulk=f.number("muscle_bulk"),
        exercise_met_h_week=f.number("exercise_met_h_week"),
        sex=f.text("sex", required=False) or None,
        age_years=f.number("age_years", required=False),
        baseline_severity=f.number("baseline_severity", default=2.0),
        treatment_date=f.date("treatment_date", required=False) or today,
        event_date=f.date("event_date", required=False),
        manual=_manual_rows(f),
        values={k: v for k, v in fields.items() if k != ID_FIELD},
    )
    if form.event_date is not None and form.event_date <= form.treatment_date:
        errors.append(
            FieldError(
                "event_date", form.event_date.isoformat(), "must be after the treatment date"
            )
        )
    if errors:
        raise FormError(errors)
    return form


class _Reader:
    """Typed access to form fields that collects every error instead of stopping at one."""

    def __init__(self, fields: dict[str, str], errors: list[FieldError]):
        self.fields, self.errors = fields, errors

    def text(self, name: str, required: bool = True) -> str:
        value = self.fields.get(name, "")
        if required and not value:
            self.errors.append(FieldError(name, None, "required"))
        return value

    def number(self, name: str, required: bool = True, default=None):
        value = self.fields.get(name, "")
        if value == "":
            if default is None and required:
                self.errors.append(FieldError(name, None, "required"))
            return default if default is not None else (math.nan if required else None)
        try:
            number = float(value)
        except ValueError:
            self.errors.append(FieldError(name, value, "not a number"))
            return math.nan
        if not math.isfinite(number):
            self.errors.append(FieldError(name, value, "must be a finite number"))
        return number

    def date(self, name: str, required: bool = True) -> dt.date | None:
        value = self.fields.get(name, "")
        if value == "":
            if required:
                self.errors.append(FieldError(name, None, "required"))
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.errors.append(FieldError(name, value, "not a date (use YYYY-MM-DD)"))
            return None


def _manual_rows(f: _Reader) -> tuple[PastEpisode, ...]:
    """Past episodes typed by hand (region = the planned region); a row is used if filled."""
    out = []
    region = f.fields.get("region", "")
    for k in range(1, MANUAL_ROWS + 1):
        names = {p: f"past{k}_{p}" for p in ("date", "product", "units", "lower", "upper")}
        if not any(f.fields.get(n, "") for p, n in names.items() if p != "date"):
            continue
        product = f.text(names["product"])
        units = f.number(names["units"])
        lower = f.number(names["lower"])
        upper = f.number(names["upper"], required=False)
        date = f.date(names["date"], required=False)
        if units is not None and math.isfinite(units) and math.isfinite(lower):
            out.append(
                PastEpisode(
                    region=region,
                    product=product,
                    units=units,
                    lower_days=lower,
                    upper_days=math.inf if upper is None else upper,
                    treatment_date=date,
                )
            )
    return tuple(out)


_COLUMN = re.compile(r"column '([a-z_]+)'")
_VALUE = re.compile(r"value (.+?): ")


def field_error_from_advice(exc: AdviceInputError) -> FieldError:
    """The field an advice input error names (``history`` for a past episode)."""
    text = str(exc)
    column = _COLUMN.search(text)
    value = _VALUE.search(text)
    rule = text.rsplit(": ", 1)[-1]
    name = column.group(1) if column else "form"
    if text.startswith("history"):
        name, rule = "history", text
    shown = value.group(1).strip("'\"") if value and name != "history" else None
    return FieldError(name, shown, rule)
