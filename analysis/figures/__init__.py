"""Figures of every stage (Okabe-Ito palette, journal sizes); importing selects no backend."""
