"""``/watchlist``, ``/saved-searches``, ``/notifications``: an organization's watchlist, saved searches and
inbox (SPEC §17.4)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Response, status

from app.deps import ClockDep, IdempotencyDep, PrincipalDep, SessionDep
from app.kit.errors import error_responses
from app.kit.pagination import Page, PageParams, page_params
from app.kit.routing import ExchangeRouter
from app.listings import service as listings
from app.notifications import schemas, service
from app.notifications.kinds import KINDS

router = ExchangeRouter(tags=["notifications"])

_OWNED = "Belongs to the caller's organization: its members share it. Operators have none (403 `forbidden`)."
_IDEMPOTENT = "Send an `Idempotency-Key` to make a retry safe: the first response is replayed."


def _saved_search_out(row: object) -> schemas.SavedSearchOut:
    return schemas.SavedSearchOut.model_validate(row)


@router.post(
    "/watchlist/{listing_id:uuid}",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.WatchOut,
    responses={
        200: {"model": schemas.WatchOut, "description": "Already watched: the watch as it was"},
        **error_responses(401, 403, 404),
    },
    summary="Watch a listing",
    description="Puts a listing the caller may see on the organization's watchlist (a listing it may not see: "
    "404 `not_found`); its watchers are told when its status changes (`listing_updated`), when its auction "
    "opens, ends soon or closes, and when it is relisted. 201 when added, 200 with the same body when it "
    "was already watched. " + _OWNED + " " + _IDEMPOTENT,
)
async def watch_listing(
    listing_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    already = await service.is_watching(session, principal, listing_id)

    async def act() -> schemas.WatchOut:
        watch = await service.watch(session, principal, listing_id, clock)
        return schemas.WatchOut(listing_id=watch.listing_id, created_at=watch.created_at)

    return await idem.run(act, status_code=status.HTTP_200_OK if already else status.HTTP_201_CREATED)


@router.delete(
    "/watchlist/{listing_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403),
    summary="Stop watching a listing",
    description="204 whether the listing was watched or not. " + _OWNED,
)
async def unwatch_listing(listing_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> None:
    await service.unwatch(session, principal, listing_id)


@router.get(
    "/watchlist",
    response_model=Page[schemas.WatchItem],
    responses=error_responses(401, 403, 422),
    summary="The organization's watchlist",
    description="Watched listings the caller may still see, most recently watched first, each with the "
    "listing as `GET /listings/{id}` shows it. " + _OWNED,
)
async def list_watchlist(
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[schemas.WatchItem]:
    rows, cursor = await service.watchlist(session, principal, limit=page.limit, cursor=page.cursor)
    presented = await listings.present(session, [listing for _, listing in rows], clock)
    items = [
        schemas.WatchItem(listing_id=watch.listing_id, created_at=watch.created_at, listing=listing)
        for (watch, _), listing in zip(rows, presented, strict=True)
    ]
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/saved-searches",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.SavedSearchOut,
    responses=error_responses(401, 403, 422),
    summary="Save a search",
    description="The criteria are the filters of `GET /listings` (`q` with the same Chinese full text, "
    "`pricing_mode`, `transaction_kind`, an `ipc` prefix, `min_price`, `max_price`), at least one of them "
    "(else 422 `validation_error`). When a listing of another organization is first published and meets them, "
    "the organization is told (`listing_matched`), once per listing and search. "
    + _OWNED
    + " "
    + _IDEMPOTENT,
)
async def create_saved_search(
    body: schemas.SavedSearchCreate,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> schemas.SavedSearchOut:
        return _saved_search_out(await service.create_saved_search(session, principal, body, clock))

    return await idem.run(act)


@router.get(
    "/saved-searches",
    response_model=Page[schemas.SavedSearchOut],
    responses=error_responses(401, 403, 422),
    summary="The organization's saved searches",
    description="Newest first. " + _OWNED,
)
async def list_saved_searches(
    session: SessionDep, principal: PrincipalDep, page: Annotated[PageParams, Depends(page_params)]
) -> Page[schemas.SavedSearchOut]:
    rows, cursor = await service.saved_searches(session, principal, limit=page.limit, cursor=page.cursor)
    return Page(items=[_saved_search_out(r) for r in rows], next_cursor=cursor)


@router.delete(
    "/saved-searches/{saved_search_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404),
    summary="Delete a saved search",
    description="Another organization's saved search: 404 `not_found`. " + _OWNED,
)
async def delete_saved_search(
    saved_search_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> None:
    await service.delete_saved_search(session, principal, saved_search_id)


@router.get(
    "/notifications",
    response_model=schemas.NotificationPage,
    responses=error_responses(401, 403, 422),
    summary="The organization's inbox",
    description="Notifications newest first, with `unread_count`: how many of the organization's notifications "
    "(of `kind`, when given) are unread. `unread=true` lists only unread ones, `unread=false` only read ones. "
    "Each is written in the transaction of the change it reports; `created_at` is the business time of that "
    "change. " + _OWNED,
)
async def list_notifications(
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[PageParams, Depends(page_params)],
    unread: bool | None = None,
    kind: Annotated[
        str | None,
        Query(max_length=40, description="One kind of SPEC §17.4", json_schema_extra={"enum": list(KINDS)}),
    ] = None,
) -> schemas.NotificationPage:
    rows, cursor, unread_count = await service.inbox(
        session, principal, unread=unread, kind=kind, limit=page.limit, cursor=page.cursor
    )
    return schemas.NotificationPage(
        items=[schemas.NotificationOut.model_validate(n) for n in rows],
        next_cursor=cursor,
        unread_count=unread_count,
    )


@router.post(
    "/notifications/{notification_id:uuid}/read",
    response_model=schemas.NotificationOut,
    responses=error_responses(401, 403, 404),
    summary="Mark a notification read",
    description="Returns the notification with `read_at`; marking it again keeps the first `read_at`. Read "
    "state is the organization's: read by one member, read for all. " + _OWNED + " " + _IDEMPOTENT,
)
async def read_notification(
    notification_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Response:
    async def act() -> schemas.NotificationOut:
        found = await service.mark_read(session, principal, notification_id, clock)
        return schemas.NotificationOut.model_validate(found)

    return await idem.run(act, status_code=status.HTTP_200_OK)


@router.post(
    "/notifications/read-all",
    response_model=schemas.ReadAllOut,
    responses=error_responses(401, 403),
    summary="Mark every notification read",
    description="`updated`: how many unread notifications were marked read. " + _OWNED + " " + _IDEMPOTENT,
)
async def read_all_notifications(
    session: SessionDep, principal: PrincipalDep, clock: ClockDep, idem: IdempotencyDep
) -> Response:
    async def act() -> schemas.ReadAllOut:
        return schemas.ReadAllOut(updated=await service.mark_all_read(session, principal, clock))

    return await idem.run(act, status_code=status.HTTP_200_OK)
