"""Datasets and training: no HTTP, no database."""
