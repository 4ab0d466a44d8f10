"""Authentication (who is calling) and authorization (what they may touch), off unless `--auth` is given."""
