"""Runyard next to `mlflow server`: the same raw-HTTP workloads against both, printed as one table.

Run from the repository root with `python -m bench` (`--quick` for a smoke run, `--only runyard|mlflow` for one
side, `--big` for the 100,000-run search). Both servers listen on 127.0.0.1 only, each on a fresh SQLite database
and artifact folder in a temporary directory that is removed at the end.
"""
