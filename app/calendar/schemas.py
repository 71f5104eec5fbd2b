from __future__ import annotations

from datetime import date

from pydantic import Field

from app.kit.schemas import RequestModel, ResponseModel
from app.kit.workdays import CalendarSource


class CalendarYearIn(RequestModel):
    holidays: list[date] = Field(
        max_length=366, description="Weekdays that are public holidays (YYYY-MM-DD, in the year)"
    )
    workdays: list[date] = Field(
        max_length=366, description="Weekend days made working days (调休上班), in the year"
    )


class CalendarYearOut(ResponseModel):
    year: int
    source: CalendarSource = Field(description="Where the year's working days come from (precedence order)")
    holidays: list[date]
    workdays: list[date]
