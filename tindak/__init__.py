"""Tindak: follow-up tracker for the recommendations of Forum Konsultasi Publik."""

__version__ = "0.1.0"
