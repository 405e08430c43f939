"""The demo-cohort simulator: clinic-format raw tables generated from a known truth.

``config`` (the frozen ``simulate`` configuration), ``population`` (patients, doses, latent
durations, complication risks), ``visits`` (treatment cycles, follow-up visits, assessments)
and ``cohort`` (``simulate_cohort``, ``write_cohort``, the truth tables). The model is
described in docs/simulator.md.
"""
