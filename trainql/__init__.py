"""trainql: train classification models on tabular CSV data and keep the record of every run."""

__version__ = "0.1.0"
