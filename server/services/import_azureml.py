"""An Azure ML workspace as the source of an import, read through its MLflow REST API with the stock client.

A workspace's MLflow tracking URI, `azureml://<region>.api.azureml.ms/mlflow/v1.0/subscriptions/<sub>/resourceGroups/
<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>`, names an MLflow REST server at the same address
over https; the `azureml-mlflow` plugin only swaps the scheme and signs each request with an Entra ID bearer token
for Azure Resource Manager. That is done here without the plugin: the token comes from `DefaultAzureCredential`
(`az login`, a service principal's environment variables, a managed identity) and is handed to the client as a
`requests` auth object named by MLFLOW_TRACKING_AUTH, which the client asks for on every request, so a token is
fetched again shortly before it expires and an import longer than a token's life goes on.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from server.errors import MlflowError

ARM_SCOPE = "https://management.azure.com/.default"  # the audience of the workspace's MLflow API (ARM tokens)
AUTH_NAME = "runyard-azureml"  # the client's MLFLOW_TRACKING_AUTH name for the workspace's bearer token
# Where the converted URI's requests go instead of https://<host> (scheme://host[:port]): a private endpoint's
# address, or a stand-in for Azure.
BASE_URL_ENV = "RUNYARD_AZUREML_BASE_URL"
_REFRESH_BEFORE_S = 300  # a token this close to its expiry is replaced before the next request
_WORKSPACE_PATH = re.compile(
    r"^/mlflow/v1\.0/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/[^/]+/?$",
    re.IGNORECASE,
)
_MLFLOW_CREDENTIALS = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_AUTH")


class TokenCredential(Protocol):
    """What of azure-identity's credentials is used: a token for a scope, with its expiry (epoch seconds)."""

    def get_token(self, *scopes: str) -> Any: ...


def is_workspace_uri(uri: str) -> bool:
    """Whether `uri` is an Azure ML workspace's MLflow tracking URI, azureml:// or https:// (by its path, which
    holds for every region, cloud and private endpoint)."""
    parts = urlsplit(uri)
    return parts.scheme in ("azureml", "https") and bool(_WORKSPACE_PATH.match(parts.path))


def uses_azure_credential(uri: str) -> bool:
    """azureml:// always; the plain https:// form of a workspace's URI when no MLflow credentials are set (those
    then sign the requests, as for any tracking server)."""
    if not is_workspace_uri(uri):
        return False
    mlflow_credentials = [name for name in _MLFLOW_CREDENTIALS if os.environ.get(name) not in (None, "", AUTH_NAME)]
    return uri.startswith("azureml://") or not mlflow_credentials


def https_uri(uri: str) -> str:
    """The REST address of a workspace's tracking URI: azureml:// becomes https://, the host replaced by
    RUNYARD_AZUREML_BASE_URL when set."""
    parts = urlsplit(uri.rstrip("/"))
    if parts.scheme == "azureml" and not parts.netloc:
        raise MlflowError.invalid_parameter(f"No host in the Azure ML tracking URI {uri!r}.")
    base = os.environ.get(BASE_URL_ENV, "").rstrip("/")
    if parts.scheme == "azureml":
        base = base or f"https://{parts.netloc}"
    elif not base:
        return uri.rstrip("/")
    return f"{base}{parts.path}"


class AzureBearer(requests.auth.AuthBase):
    """Signs the requests to one host with a token of `credential` for ARM, fetched again when it is within
    `_REFRESH_BEFORE_S` of its expiry by `clock`. Other hosts (a signed storage URL) get nothing."""

    def __init__(self, credential: TokenCredential, base_url: str, clock: Callable[[], float] = time.time) -> None:
        parts = urlsplit(base_url)
        self.origin = (parts.scheme, parts.netloc)
        self.credential = credential
        self.clock = clock
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        """The current token, fetched when there is none or it is about to expire."""
        with self._lock:
            if self._token is None or self.clock() >= self._expires_on - _REFRESH_BEFORE_S:
                access = self.credential.get_token(ARM_SCOPE)
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        if (parts.scheme, parts.netloc) == self.origin:
            request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def __repr__(self) -> str:  # never the token
        return f"AzureBearer({self.origin[0]}://{self.origin[1]})"


def default_credential() -> TokenCredential:
    """The user's Azure identity, found as the Azure CLI and SDKs find it (environment, managed identity, az login)."""
    from azure.identity import DefaultAzureCredential

    credential: TokenCredential = DefaultAzureCredential()
    return credential


_current: AzureBearer | None = None
_registered = False


def sign_requests_with(auth: AzureBearer) -> None:
    """Make `auth` what the client uses for MLFLOW_TRACKING_AUTH=runyard-azureml, from now on in this process.

    The client finds auth providers by name in its registry, which packages fill through an entry point; this
    process adds its one provider directly, once, and points it at the latest source's auth."""
    global _current, _registered
    _current = auth
    os.environ["MLFLOW_TRACKING_AUTH"] = AUTH_NAME
    if _registered:
        return
    from mlflow.tracking.request_auth.abstract_request_auth_provider import RequestAuthProvider
    from mlflow.tracking.request_auth.registry import _request_auth_provider_registry

    class _Provider(RequestAuthProvider):
        def get_name(self) -> str:
            return AUTH_NAME

        def get_auth(self) -> AzureBearer | None:
            return _current

    _request_auth_provider_registry.register(_Provider)  # type: ignore[no-untyped-call]
    _registered = True


def first_token(auth: AzureBearer) -> None:
    """A token now, so missing Azure credentials are one line before the first request, not a wrapped error."""
    from azure.core.exceptions import ClientAuthenticationError

    try:
        auth.token()
    except ClientAuthenticationError as exc:
        reason = next((line.strip() for line in str(exc.message).splitlines() if line.strip()), "no reason given")
        raise MlflowError.invalid_parameter(
            f"Cannot get an Azure token for the workspace ({ARM_SCOPE}): {reason}"
        ) from None


def in_own_artifact_store(artifact_uri: str) -> bool:
    """Whether a run's artifacts are in the workspace's own artifact service (an azureml:// artifact URI, what runs
    logged to Azure ML itself have), which only the azureml-mlflow plugin reads, rather than behind the MLflow
    API's artifact proxy (mlflow-artifacts:), which is read through the same address and token as the runs."""
    return artifact_uri.startswith("azureml:")
