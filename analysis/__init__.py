"""BoNT-A duration and complication study: simulation, ingestion, survival, Bayesian models,
reports."""

__version__ = "0.1.0"
