"""Re-treatment interval advice: the Bayesian frailty AFT, its fit, storage and predictions."""
