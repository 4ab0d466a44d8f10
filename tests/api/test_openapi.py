"""The server's OpenAPI document, as a REST client in another language reads it from `/openapi.json`: a valid OpenAPI
3.1 document (checked by openapi-spec-validator) that names every route the server has, MLflow's RPCs with the request
fields MLflow's descriptors give them (query parameters for GET, a JSON body otherwise, repeated fields as arrays,
enums by name, MLflow's required marks) and their response messages, and MLflow's error body on every 4xx and 5xx.
A route added later without being in the document fails here, because the list comes from the app's route table."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from openapi_spec_validator import validate
from starlette.routing import Route

from server.app import create_app
from server.config import Settings


@pytest.fixture(scope="module")
def document(server_url: str) -> dict[str, Any]:
    response = httpx.get(f"{server_url}/openapi.json", timeout=60)
    assert response.status_code == 200
    return dict(response.json())


def _routes() -> Iterator[tuple[str, str]]:
    folder = Path(tempfile.mkdtemp(prefix="runyard-openapi-"))
    app = create_app(Settings(backend_store_uri=f"sqlite:///{folder / 'db.sqlite'}", artifacts_destination=str(folder)))
    routes = list(app.routes)
    while routes:
        route = routes.pop()
        if hasattr(route, "original_router"):
            routes.extend(route.original_router.routes)
        elif isinstance(route, Route | APIRoute):
            for method in (route.methods or set()) - {"HEAD", "OPTIONS"}:
                yield method.lower(), re.sub(r"{(\w+):\w+}", r"{\1}", route.path)  # OpenAPI has no converters
    app.state.context.db.dispose()


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_of_the_server_is_in_the_document(document: dict[str, Any]) -> None:
    missing = sorted(
        f"{method.upper()} {path}" for method, path in _routes() if method not in document["paths"].get(path, {})
    )
    assert not missing, missing


def test_an_rpc_carries_mlflows_fields_and_error_body(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    search = document["paths"]["/api/2.0/mlflow/runs/search"]["post"]
    assert search["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/mlflow.SearchRuns"
    }
    fields = schemas["mlflow.SearchRuns"]["properties"]
    assert fields["experiment_ids"] == {"type": "array", "items": {"type": "string"}}
    assert fields["run_view_type"]["anyOf"][0]["enum"] == ["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]
    answer = search["responses"]["200"]["content"]["application/json"]["schema"]
    assert schemas[answer["$ref"].rsplit("/", 1)[1]]["properties"]["runs"]["type"] == "array"
    assert search["responses"]["4XX"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    assert schemas["ErrorResponse"]["required"] == ["error_code", "message"]

    by_name = document["paths"]["/api/2.0/mlflow/experiments/get-by-name"]["get"]["parameters"]
    assert {"name": "experiment_name", "in": "query", "required": True, "schema": {"type": "string"}} in by_name
    history = document["paths"]["/ajax-api/2.0/mlflow/metrics/get-history"]["get"]["parameters"]
    assert {p["name"] for p in history} >= {"run_id", "metric_key", "page_token", "max_results"}
    dataset = document["paths"]["/api/3.0/mlflow/datasets/{dataset_id}"]["get"]["parameters"]
    assert {"name": "dataset_id", "in": "path", "required": True, "schema": {"type": "string"}} in dataset


def test_the_jobs_api_keeps_its_own_models(document: dict[str, Any]) -> None:
    submit = document["paths"]["/runyard/api/jobs"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GitJobSubmit"
    }
    assert "JobView" in document["components"]["schemas"]


def test_the_docs_page_serves_the_document(server_url: str) -> None:
    page = httpx.get(f"{server_url}/docs", timeout=30)
    assert page.status_code == 200
    assert "/openapi.json" in page.text
