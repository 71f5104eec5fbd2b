"""``/calendar/{year}``: the working-day calendar every deadline is counted in (SPEC §21)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from app.calendar import service
from app.calendar.schemas import CalendarYearIn, CalendarYearOut
from app.deps import CalendarDep, ClockDep, OperatorDep, SessionDep
from app.kit.errors import error_responses
from app.kit.routing import ExchangeRouter

router = ExchangeRouter(prefix="/calendar", tags=["calendar"])
# The range is checked by the service (422 ``invalid_year``); the schema publishes it.
Year = Annotated[
    int,
    Path(
        description="A year, e.g. 2027",
        json_schema_extra={"minimum": service.FIRST_YEAR, "maximum": service.LAST_YEAR},
    ),
]


@router.get(
    "/{year}",
    response_model=CalendarYearOut,
    responses=error_responses(codes={422: ["invalid_year"]}),
    summary="The working-day calendar of a year and where it comes from",
    description="`source`: `bundled` (the official table shipped with the server), `operator` (loaded with "
    "PUT), `file` (the server's holiday file) or `weekdays_only` (Monday-Friday: nobody has loaded the year "
    "yet). `holidays` are weekdays off, `workdays` weekend days worked. 422 `invalid_year` outside 1900..2199.",
)
async def get_calendar_year(year: Year, calendar: CalendarDep) -> CalendarYearOut:
    service.check_year(year)
    return service.present(calendar, year)


@router.put(
    "/{year}",
    response_model=CalendarYearOut,
    responses=error_responses(
        401, 403, codes={409: ["calendar_bundled"], 422: ["invalid_calendar", "invalid_year"]}
    ),
    summary="Load the official holidays of a year the bundled calendar does not cover (operator)",
    description="Every deadline computed afterwards, by every server process, uses it (deadlines already set "
    "do not move); it takes precedence over the holiday file. Audited as `calendar_year` events. "
    "409 `calendar_bundled` for a year the bundled official calendar covers; 422 `invalid_calendar` for a date "
    "outside the year, a weekday in `workdays` or a weekend day in `holidays`; 422 `invalid_year`.",
)
async def put_calendar_year(
    year: Year,
    body: CalendarYearIn,
    session: SessionDep,
    principal: OperatorDep,
    calendar: CalendarDep,
    clock: ClockDep,
) -> CalendarYearOut:
    return await service.put_year(session, principal, calendar, year, body, clock)
