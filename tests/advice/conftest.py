"""The advice tests' session fixtures (`advice_config`, `advice_spec`, `advice_fit`,
`advice_draws`) live in tests/conftest.py: tests/serve serves the same small fit."""
