"""Descriptive statistics of the processed cohort (the ``describe`` stage's science).

``describe_cohort`` (in :mod:`analysis.cohort.describe`) turns the processed episodes and the
data-quality table into tidy tables; :mod:`analysis.cohort.narrative` writes the sentences and
headline numbers the report shows next to them.
"""
