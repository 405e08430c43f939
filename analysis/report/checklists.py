"""Reporting checklists of the manuscript: STROBE (cohort studies) and TRIPOD (the advice model).

Each item names the manuscript sections (heading ids, see
:func:`analysis.report.manuscript.heading_id`) where it is answered. Whether it *is* answered is
decided against the manuscript that was built: an item is answered only when every section it
names exists and has text, otherwise the checklist says it is not (and why, when the item does
not apply to this study).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: The manuscript's title: the checklist key of the H1 heading.
TITLE = "title"
#: The subtitle under the title naming the prediction model, its population and outcome
#: (written only when the advice model's outputs were released); links to the H1 heading.
PREDICTION_TITLE = "prediction_model_title"
#: Keys that are not headings of their own: they link to the title (H1).
FRONT_MATTER = {TITLE: "Title", PREDICTION_TITLE: "Subtitle"}


@dataclass(frozen=True)
class ChecklistItem:
    """One checklist item: its number, topic, what it asks and where it is answered.

    ``sections`` are heading ids of the manuscript (``title`` for the title itself); an empty
    tuple with a ``note`` marks an item that this study does not (or cannot) answer.
    """

    number: str
    topic: str
    asks: str
    sections: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ChecklistRow:
    """A checklist item resolved against a built manuscript."""

    item: ChecklistItem
    answered: bool
    where: tuple[tuple[str, str], ...]  # (heading id, heading title) of each section
    remark: str


STROBE_COHORT: tuple[ChecklistItem, ...] = (
    ChecklistItem("1a", "Title and abstract", "Study design in the title", (TITLE,)),
    ChecklistItem("1b", "Title and abstract", "Informative, balanced abstract", ("abstract",)),
    ChecklistItem("2", "Background", "Scientific background and rationale", ("introduction",)),
    ChecklistItem("3", "Objectives", "Specific objectives", ("objectives",)),
    ChecklistItem("4", "Study design", "Key elements of the design", ("study_design_and_setting",)),
    ChecklistItem("5", "Setting", "Setting, locations, dates", ("study_design_and_setting",)),
    ChecklistItem(
        "6a", "Participants", "Eligibility, sources, follow-up", ("eligibility_and_episodes",)
    ),
    ChecklistItem("6b", "Participants", "Matching criteria", note="not applicable: no matching"),
    ChecklistItem("7", "Variables", "Outcomes, exposures, predictors", ("outcomes_and_variables",)),
    ChecklistItem(
        "8", "Data sources", "Sources and measurement", ("data_sources_and_measurement",)
    ),
    ChecklistItem("9", "Bias", "Efforts to address bias", ("bias",)),
    ChecklistItem("10", "Study size", "How the study size was arrived at", ("study_size",)),
    ChecklistItem(
        "11",
        "Quantitative variables",
        "How quantitative variables were handled",
        ("outcomes_and_variables", "statistical_analysis"),
    ),
    ChecklistItem(
        "12a", "Statistical methods", "All statistical methods", ("statistical_analysis",)
    ),
    ChecklistItem(
        "12b", "Statistical methods", "Subgroups and interactions", ("statistical_analysis",)
    ),
    ChecklistItem("12c", "Statistical methods", "Missing data", ("missing_data",)),
    ChecklistItem("12d", "Statistical methods", "Loss to follow-up", ("missing_data",)),
    ChecklistItem("12e", "Statistical methods", "Sensitivity analyses", ("sensitivity_analyses",)),
    ChecklistItem("13a", "Participants", "Numbers at each stage", ("participant_flow",)),
    ChecklistItem("13b", "Participants", "Reasons for non-participation", ("participant_flow",)),
    ChecklistItem("13c", "Participants", "Flow diagram", ("participant_flow",)),
    ChecklistItem(
        "14a", "Descriptive data", "Characteristics of participants", ("descriptive_data",)
    ),
    ChecklistItem(
        "14b", "Descriptive data", "Missing data per variable", ("descriptive_data", "missing_data")
    ),
    ChecklistItem("14c", "Descriptive data", "Follow-up time (average and total)", ("follow_up",)),
    ChecklistItem("15", "Outcome data", "Outcome events over time", ("outcome_data",)),
    ChecklistItem(
        "16a",
        "Main results",
        "Unadjusted and adjusted estimates with precision",
        ("duration_of_effect", "unadjusted_associations", "complications"),
    ),
    ChecklistItem("16b", "Main results", "Category boundaries", ("outcomes_and_variables",)),
    ChecklistItem("16c", "Main results", "Absolute risks", ("complications",)),
    ChecklistItem(
        "17", "Other analyses", "Subgroups, interactions, sensitivity", ("sensitivity_analyses",)
    ),
    ChecklistItem("18", "Key results", "Key results and objectives", ("key_results",)),
    ChecklistItem("19", "Limitations", "Limitations, bias, imprecision", ("limitations",)),
    ChecklistItem("20", "Interpretation", "Cautious overall interpretation", ("interpretation",)),
    ChecklistItem("21", "Generalisability", "External validity", ("generalisability",)),
    ChecklistItem("22", "Funding", "Funding and role of funders", ("funding",)),
)

TRIPOD_DEVELOPMENT: tuple[ChecklistItem, ...] = (
    ChecklistItem(
        "1",
        "Title",
        "Development of a prediction model, target population, outcome",
        (TITLE, PREDICTION_TITLE),
    ),
    ChecklistItem("2", "Abstract", "Summary of objectives, design, results", ("abstract",)),
    ChecklistItem("3a", "Background", "Medical context and rationale", ("introduction",)),
    ChecklistItem("3b", "Objectives", "Objectives (development)", ("objectives",)),
    ChecklistItem(
        "4a", "Source of data", "Study design and data source", ("study_design_and_setting",)
    ),
    ChecklistItem(
        "4b", "Source of data", "Dates of accrual and follow-up", ("study_design_and_setting",)
    ),
    ChecklistItem("5a", "Participants", "Setting and centres", ("study_design_and_setting",)),
    ChecklistItem("5b", "Participants", "Eligibility criteria", ("eligibility_and_episodes",)),
    ChecklistItem("5c", "Participants", "Treatments received", ("eligibility_and_episodes",)),
    ChecklistItem("6a", "Outcome", "Outcome definition and timing", ("outcomes_and_variables",)),
    ChecklistItem(
        "6b",
        "Outcome",
        "Blinding of outcome assessment",
        note="not answered: assessor blinding is not recorded in clinic exports",
    ),
    ChecklistItem("7a", "Predictors", "Predictor definitions", ("outcomes_and_variables",)),
    ChecklistItem(
        "7b",
        "Predictors",
        "Blinding of predictor assessment",
        note="not answered: not recorded in clinic exports",
    ),
    ChecklistItem("8", "Sample size", "How the study size was arrived at", ("study_size",)),
    ChecklistItem("9", "Missing data", "Handling of missing data", ("missing_data",)),
    ChecklistItem(
        "10a", "Statistical methods", "Handling of predictors", ("advice_model_development",)
    ),
    ChecklistItem(
        "10b",
        "Statistical methods",
        "Model type, building, internal validation",
        ("advice_model_development",),
    ),
    ChecklistItem(
        "10d", "Statistical methods", "Measures of model performance", ("advice_model_development",)
    ),
    ChecklistItem("11", "Risk groups", "Creation of risk groups", note="not applicable: none"),
    ChecklistItem("13a", "Participants", "Flow of participants", ("participant_flow",)),
    ChecklistItem("13b", "Participants", "Characteristics, missing data", ("descriptive_data",)),
    ChecklistItem("14a", "Model development", "Participants and events", ("advice_model",)),
    ChecklistItem(
        "14b",
        "Model development",
        "Unadjusted predictor-outcome associations",
        ("unadjusted_associations",),
    ),
    ChecklistItem("15a", "Model specification", "Full prediction model", ("advice_model",)),
    ChecklistItem("15b", "Model specification", "How to use the model", ("advice_model",)),
    ChecklistItem(
        "16", "Model performance", "Performance measures with intervals", ("advice_model",)
    ),
    ChecklistItem("18", "Limitations", "Limitations", ("limitations",)),
    ChecklistItem("19b", "Interpretation", "Overall interpretation", ("interpretation",)),
    ChecklistItem("20", "Implications", "Potential clinical use", ("generalisability",)),
    ChecklistItem(
        "21",
        "Supplementary information",
        "Supplementary resources",
        ("data_and_code_availability",),
    ),
    ChecklistItem("22", "Funding", "Funding and role of funders", ("funding",)),
)

CHECKLISTS: dict[str, tuple[ChecklistItem, ...]] = {
    "STROBE (cohort studies)": STROBE_COHORT,
    "TRIPOD (prediction model development)": TRIPOD_DEVELOPMENT,
}


def resolve(
    items: tuple[ChecklistItem, ...], sections: Mapping[str, tuple[str, str]]
) -> list[ChecklistRow]:
    """Resolve items against the built manuscript's ``sections`` (heading id -> (title, text)).

    An item is answered when it names sections and every one of them exists with non-blank
    text; an item whose section was not written (e.g. a stage whose table is missing) is
    reported as not answered, never silently as answered.
    """
    rows = []
    for item in items:
        present = [s for s in item.sections if s in sections and sections[s][1].strip()]
        answered = bool(item.sections) and len(present) == len(item.sections)
        if answered:
            remark = ""
        elif item.sections:
            missing = ", ".join(s for s in item.sections if s not in present)
            remark = f"not answered: section {missing} was not produced by this run"
        else:
            remark = item.note
        where = tuple((s, sections[s][0]) for s in present)
        rows.append(ChecklistRow(item=item, answered=answered, where=where, remark=remark))
    return rows
