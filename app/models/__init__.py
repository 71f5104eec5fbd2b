"""Every ORM table, one module per aggregate; importing this package registers them all."""

from app.models.accounts import ApiKey, LoginFailure, Organization, User
from app.models.audit import AuditEvent
from app.models.base import Base
from app.models.listings import Listing, ListingPatent, ListingSearch
from app.models.patents import Patent, PatentIpc
from app.models.platform import SandboxClock

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "Listing",
    "ListingPatent",
    "ListingSearch",
    "LoginFailure",
    "Organization",
    "Patent",
    "PatentIpc",
    "SandboxClock",
    "User",
]
