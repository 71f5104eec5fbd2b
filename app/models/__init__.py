"""Every ORM table, one module per aggregate; importing this package registers them all."""

from app.models.accounts import ApiKey, LoginFailure, Organization, User
from app.models.audit import AuditEvent
from app.models.base import Base
from app.models.contracts import Contract, ContractSignature, Objection
from app.models.demands import Demand, DemandIpc, DemandResponse
from app.models.dossier import DecisionRecord
from app.models.ledger import JournalEntry, JournalLine, LedgerAccount
from app.models.listings import Listing, ListingPatent, ListingSearch, PriorityHolder
from app.models.notifications import Notification
from app.models.owners import Empowerment, InventorLine, OwnerConsent, PatentOwner
from app.models.patents import Patent, PatentIpc
from app.models.platform import CalendarYear, ReadVersion, SandboxClock
from app.models.policy import OpenLicense, OpenLicenseGrant, Pledge, PledgeConsent, RewardPlan
from app.models.royalties import RoyaltyReport, RoyaltySchedule
from app.models.settlement import Certificate, CertificateSequence, LicenceRecord, TransferTask
from app.models.techcontracts import TechContractRegistration
from app.models.trading import (
    Auction,
    AuctionEvent,
    Bid,
    Deal,
    IdempotencyKey,
    Offer,
    ProxyBid,
    Registration,
)
from app.models.trials import Trial, TrialOffer
from app.models.web import WebSession
from app.models.webhooks import Webhook, WebhookDelivery

__all__ = [
    "ApiKey",
    "Auction",
    "AuctionEvent",
    "AuditEvent",
    "Base",
    "Bid",
    "CalendarYear",
    "Certificate",
    "CertificateSequence",
    "Contract",
    "ContractSignature",
    "Deal",
    "DecisionRecord",
    "Demand",
    "DemandIpc",
    "DemandResponse",
    "Empowerment",
    "IdempotencyKey",
    "InventorLine",
    "JournalEntry",
    "JournalLine",
    "LedgerAccount",
    "LicenceRecord",
    "Listing",
    "ListingPatent",
    "ListingSearch",
    "LoginFailure",
    "Notification",
    "Objection",
    "Offer",
    "OpenLicense",
    "OpenLicenseGrant",
    "Organization",
    "OwnerConsent",
    "Patent",
    "PatentIpc",
    "PatentOwner",
    "Pledge",
    "PledgeConsent",
    "PriorityHolder",
    "ProxyBid",
    "ReadVersion",
    "Registration",
    "RewardPlan",
    "RoyaltyReport",
    "RoyaltySchedule",
    "SandboxClock",
    "TechContractRegistration",
    "TransferTask",
    "Trial",
    "TrialOffer",
    "User",
    "WebSession",
    "Webhook",
    "WebhookDelivery",
]
