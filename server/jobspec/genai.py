"""MLflow's server-side GenAI jobs, as both sides of the queue know them: the allow-list of job names and the
MLflow function each runs. The server accepts no other name, and the worker imports no other function, so a job
row can never make a worker run arbitrary code. The list is MLflow 3.17's own (`mlflow.server.jobs`)."""

from __future__ import annotations

from typing import Final

FUNCTIONS: Final[dict[str, str]] = {
    "invoke_scorer": "mlflow.genai.scorers.job.invoke_scorer_job",
    "run_online_trace_scorer": "mlflow.genai.scorers.job.run_online_trace_scorer_job",
    "run_online_session_scorer": "mlflow.genai.scorers.job.run_online_session_scorer_job",
    "optimize_prompts": "mlflow.genai.optimize.job.optimize_prompts_job",
    "invoke_issue_detection": "mlflow.genai.discovery.job.invoke_issue_detection_job",
    "invoke_genai_evaluate": "mlflow.genai.evaluation.job.invoke_genai_evaluate_job",
}

# A GenAI job runs on the worker's own Python, with MLflow's GenAI extras installed there.
BACKEND: Final = "local"
# How the worker begins the error of a job it stopped at its timeout; MLflow shows such a job as TIMEOUT.
TIMED_OUT: Final = "Timed out"
