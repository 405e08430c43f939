"""Ingestion: reading clinic exports, validation, pseudonymisation, episode derivation."""
