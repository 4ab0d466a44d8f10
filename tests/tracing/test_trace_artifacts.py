"""`get-trace-artifact`, which the web UI reads a trace's spans from: spans stored here in MLflow's `traces.json`
form, and the `traces.json` an older client uploaded to the trace's artifact folder."""

from __future__ import annotations

import httpx
import mlflow
import orjson
from mlflow import MlflowClient
from mlflow.entities import TraceData

AJAX = "/ajax-api/3.0/mlflow"


def test_stored_spans_come_back_as_traces_json(client: MlflowClient, server_url: str, unique_name: str) -> None:
    mlflow.set_experiment(unique_name)
    with mlflow.start_span("plan", span_type="AGENT") as root:
        root.set_inputs({"goal": "tea"})
        with mlflow.start_span("boil") as child:
            child.set_outputs({"temperature": 100})
    mlflow.flush_trace_async_logging(terminate=False)

    answer = httpx.get(f"{server_url}{AJAX}/get-trace-artifact", params={"request_id": root.trace_id})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Disposition"] == "attachment; filename=traces.json"  # as MLflow words it
    data = TraceData.from_dict(orjson.loads(answer.content))
    spans = {span.name: span for span in data.spans}
    assert spans["plan"].inputs == {"goal": "tea"}
    assert spans["plan"].span_type == "AGENT"
    assert spans["boil"].outputs == {"temperature": 100}
    assert spans["boil"].parent_id == spans["plan"].span_id
    assert spans["boil"].request_id == root.trace_id


def test_an_uploaded_traces_json_is_served(client: MlflowClient, server_url: str, unique_name: str) -> None:
    experiment_id = client.create_experiment(unique_name)
    trace_id = "tr-" + "c3" * 16
    info = {
        "trace_id": trace_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}},
        "request_time": "2026-03-01T10:00:00.250Z",
        "execution_duration": "1.500s",
        "state": "OK",
        "tags": {"mlflow.traceName": "uploaded"},
    }
    started = httpx.post(f"{server_url}/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}})
    assert started.status_code == 200, started.text
    stored = started.json()["trace"]["trace_info"]
    assert "mlflow.trace.spansLocation" not in stored["tags"]  # no spans here: the client uploads them
    assert (stored["request_time"], stored["execution_duration"]) == ("2026-03-01T10:00:00.250Z", "1.500s")
    location = stored["tags"]["mlflow.artifactLocation"]
    assert location == f"mlflow-artifacts:/{experiment_id}/traces/{trace_id}/artifacts"

    spans_json = b'{"spans": []}'
    folder = location.removeprefix("mlflow-artifacts:/")
    put = httpx.put(f"{server_url}/api/2.0/mlflow-artifacts/artifacts/{folder}/traces.json", content=spans_json)
    assert put.status_code == 200, put.text
    answer = httpx.get(f"{server_url}/ajax-api/2.0/mlflow/get-trace-artifact", params={"request_id": trace_id})
    assert (answer.status_code, answer.content) == (200, spans_json)

    missing = httpx.get(f"{server_url}{AJAX}/get-trace-artifact")
    assert missing.status_code == 400
    assert missing.json()["message"] == 'Request must include the "request_id" query parameter.'
