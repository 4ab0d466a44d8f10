"""The browser UI: MLflow's own built React app, served from the full `mlflow` wheel when it is installed."""
