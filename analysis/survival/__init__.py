"""Duration of effect: Turnbull NPMLE, interval-censored AFT, Cox re-treatment models, CV."""
