"""Bayesian complication-rate models (stage ``fit_complications``).

Read in this order: ``config`` (the params section), ``priors`` (published rates and prior
sets), ``aggregate`` (episodes -> binomial cells), ``model`` (build and sample one type),
``study`` (every type, gate and retry), ``summaries`` (tables), ``report`` (texts, metrics and
the writing of every output). Sampling and the convergence gate are in
:mod:`analysis.inference`; figures in :mod:`analysis.figures.complications`.
"""
