"""How a counselor may close a handoff, and which detail each one asks for.

Staff-facing words, kept here as data beside the codes the database stores.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Disposition:
    code: str
    label: str
    # The one detail this ending needs (None: none), shown as the detail field's label.
    detail_label: str | None = None


DISPOSITIONS = (
    Disposition("assessment_booked", "Assessment booked", "Date and time of the assessment"),
    Disposition("admitted", "Admitted"),
    Disposition("referred", "Referred elsewhere", "Referred to"),
    Disposition("unreachable", "Unreachable", "Attempts made"),
    Disposition("not_a_fit", "Not a fit"),
    Disposition("duplicate", "Duplicate"),
)
BY_CODE = {disposition.code: disposition for disposition in DISPOSITIONS}


def detail_problem(code: str, detail: str) -> str | None:
    """Why this disposition and detail cannot be saved, in words for the counselor; None if ok."""
    disposition = BY_CODE.get(code)
    if disposition is None:
        return "Choose how the handoff ended."
    if disposition.detail_label and not detail.strip():
        return f"{disposition.detail_label} is needed for “{disposition.label}”."
    if code == "unreachable" and not detail.strip().isdigit():
        return "Attempts made must be a number."
    if len(detail) > 200:
        return "The detail is limited to 200 characters."
    return None
