"""Runyard: a tracking server that speaks MLflow's wire protocol."""

__version__ = "0.1.0"
