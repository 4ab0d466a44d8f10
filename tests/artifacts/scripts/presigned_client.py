"""Run by the stock MLflow 3.18 client against a server in presigned-only mode: logs files of several sizes and a
pyfunc model, downloads them back, and prints one JSON object of what it sent and what came back."""

import hashlib
import json
import os
import sys
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.pyfunc import PythonModel


class AddOne(PythonModel):
    def predict(self, context, model_input, params=None):
        return [value + 1 for value in model_input]


def digests(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def main() -> None:
    server, work = sys.argv[1], Path(sys.argv[2])
    sent = work / "sent"
    (sent / "weights").mkdir(parents=True)
    (sent / "empty.txt").write_bytes(b"")
    (sent / "notes.txt").write_text("presigned only\n")
    (sent / "weights" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    mlflow.set_tracking_uri(server)
    mlflow.set_experiment("presigned-only")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(sent))
        model = mlflow.pyfunc.log_model(name="add-one", python_model=AddOne())
    back = Path(MlflowClient(server).download_artifacts(run.info.run_id, "", str(work / "back")))
    prediction = mlflow.pyfunc.load_model(model.model_uri).predict([1, 2])
    report = {
        "run_id": run.info.run_id,
        "artifact_uri": run.info.artifact_uri,
        "sent": digests(sent),
        "back": {k: v for k, v in digests(back).items() if k in digests(sent)},
        "prediction": [int(value) for value in prediction],
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
