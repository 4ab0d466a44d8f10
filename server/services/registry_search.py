"""Searching registered models and model versions: one routine for both, since they share MLflow's page-size
rule, see only the registered models the caller may read, and answer with described rows and a page token."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from server.auth import rules as access
from server.errors import MlflowError
from server.services import registry_reads as reads
from server.store import search
from server.store.search import Page

DEFAULT_MODELS_PER_PAGE = 100
MAX_MODELS_PER_PAGE = 1000
MAX_VERSIONS_PER_PAGE = 200_000

Row = TypeVar("Row")
View = TypeVar("View")


class _StoreSearch(Protocol[Row]):
    def __call__(
        self,
        session: Session,
        *,
        filter_string: str | None,
        order_by: Sequence[str],
        max_results: int,
        page_token: str | None,
        visible: ColumnElement[bool] | None = None,
    ) -> Page[Row]: ...


def _page_size(max_results: int, limit: int) -> int:
    """A requested page size, refused with MLflow's wording unless it is between 1 and `limit`."""
    if max_results < 1:
        raise MlflowError.invalid_parameter(
            f"Invalid value for max_results. It must be a positive integer, but got {max_results}"
        )
    if max_results > limit:
        raise MlflowError.invalid_parameter(
            f"Invalid value for request parameter max_results. It must be at most {limit}, but got value {max_results}"
        )
    return max_results


def _readable(session: Session, authorizer: access.Authorizer | None) -> ColumnElement[bool] | None:
    """Searches only ever see the registered models the caller may read (everything when auth is off)."""
    if authorizer is None:
        return None
    return access.readable_model_condition(authorizer, session, access.current_principal())


def _search(
    session: Session,
    authorizer: access.Authorizer | None,
    find: _StoreSearch[Row],
    describe: Callable[[Session, Sequence[Row]], list[View]],
    *,
    filter_string: str | None,
    order_by: Sequence[str],
    max_results: int,
    limit: int,
    page_token: str | None,
) -> Page[View]:
    max_results = _page_size(max_results, limit)
    page = find(
        session,
        filter_string=filter_string,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
        visible=_readable(session, authorizer),
    )
    return Page(describe(session, page.items), page.next_page_token)


def search_registered_models(
    session: Session,
    authorizer: access.Authorizer | None,
    *,
    filter_string: str | None,
    order_by: Sequence[str],
    max_results: int | None,
    page_token: str | None,
) -> Page[reads.ModelView]:
    """Ordered as asked, then by name; prompts only when the filter asks for them (see `store.search`); without
    a page size, MLflow's default of 100."""
    return _search(
        session,
        authorizer,
        search.search_registered_models,
        reads.describe_models,
        filter_string=filter_string,
        order_by=order_by,
        max_results=DEFAULT_MODELS_PER_PAGE if max_results is None else max_results,
        limit=MAX_MODELS_PER_PAGE,
        page_token=page_token,
    )


def search_model_versions(
    session: Session,
    authorizer: access.Authorizer | None,
    *,
    filter_string: str | None,
    order_by: Sequence[str],
    max_results: int | None,
    page_token: str | None,
) -> Page[reads.VersionView]:
    """Newest change first unless ordered otherwise; without a page size, a page holds as many as it may."""
    return _search(
        session,
        authorizer,
        search.search_model_versions,
        reads.describe_versions,
        filter_string=filter_string,
        order_by=order_by,
        max_results=MAX_VERSIONS_PER_PAGE if max_results is None else max_results,
        limit=MAX_VERSIONS_PER_PAGE,
        page_token=page_token,
    )
