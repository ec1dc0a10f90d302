"""The transaction as the domain knows it: validated, normalised, immutable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property

from chalicelib.domain.money import to_text
from chalicelib.domain.timeutil import format_timestamp, parse_timestamp

OPTIONAL_TEXT_FIELDS = ("description", "merchant", "counterparty", "channel")
EvidenceValue = str | int | bool


@dataclass(frozen=True)
class FlagDetail:
    """Why a rule flagged a transaction: the rule, its set's version and the deciding values."""

    rule: str
    version: int
    evidence: tuple[tuple[str, EvidenceValue], ...] = ()
    # a suppression was in force for this account and rule when it flagged: the flag stands
    # (counted like any other) but opened no alert and sent no event
    suppressed: bool = False

    @classmethod
    def of(cls, rule: str, version: int, evidence: dict[str, EvidenceValue],
           suppressed: bool = False) -> FlagDetail:
        """Evidence in key order: a store's map (DynamoDB's) does not keep insertion order."""
        return cls(rule, version, tuple(sorted(evidence.items())), suppressed)

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"rule": self.rule, "version": self.version,
                                   "evidence": dict(self.evidence)}
        if self.suppressed:  # only when true: an unsuppressed flag reads as it always did
            body["suppressed"] = True
        return body

    @classmethod
    def from_json(cls, body: dict[str, object]) -> FlagDetail:
        evidence = body.get("evidence")
        pairs = evidence.items() if isinstance(evidence, dict) else ()
        return cls.of(str(body["rule"]), int(str(body["version"])),
                      {str(k): _scalar(v) for k, v in pairs}, body.get("suppressed") is True)


def _scalar(value: object) -> EvidenceValue:
    """An evidence value as stored (DynamoDB gives numbers back as Decimal)."""
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return str(value)


@dataclass(frozen=True)
class Transaction:
    """One validated transaction; `flags` are filled in by the rules when it is accepted."""

    id: str
    account: str
    amount: Decimal
    currency: str
    type: str
    timestamp: datetime
    description: str | None = None
    merchant: str | None = None
    counterparty: str | None = None
    channel: str | None = None
    flags: tuple[str, ...] = ()
    flag_details: tuple[FlagDetail, ...] = ()

    @property
    def is_credit(self) -> bool:
        return self.type == "credit"

    @cached_property
    def timestamp_text(self) -> str:
        """The UTC text form, formatted once per object (aggregates ask for it often)."""
        return format_timestamp(self.timestamp)

    @property
    def epoch(self) -> float:
        """The time in epoch seconds (a plain property: cached_property's first read, under
        its lock, costs more than the few reads a transaction gets)."""
        return self.timestamp.timestamp()

    @property
    def hour(self) -> str:
        """The hourly bucket, `2026-01-10T14`: the cached UTC text's first 13 characters."""
        return self.timestamp_text[:13]

    def content(self) -> dict[str, str]:
        """The normalised content a replay is compared on (flags are derived, not content)."""
        body = {
            "id": self.id,
            "account": self.account,
            "amount": to_text(self.amount),
            "currency": self.currency,
            "type": self.type,
            "timestamp": self.timestamp_text,
        }
        for name in OPTIONAL_TEXT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body

    def same_content(self, other: Transaction) -> bool:
        return self.content() == other.content()

    def with_flags(self, flags: tuple[str, ...],
                   details: tuple[FlagDetail, ...] = ()) -> Transaction:
        """This transaction with `flags` and their evidence (itself when they are the same:
        most have none)."""
        if flags == self.flags and details == self.flag_details:
            return self
        # built directly, not by dataclasses.replace (a tenth of a default-set ingest's rule
        # time in the profile), keeping what this object already computed
        flagged = Transaction(self.id, self.account, self.amount, self.currency, self.type,
                              self.timestamp, self.description, self.merchant,
                              self.counterparty, self.channel, flags, details)
        if "timestamp_text" in self.__dict__:
            flagged.__dict__["timestamp_text"] = self.__dict__["timestamp_text"]
        return flagged

    def to_json(self) -> dict[str, object]:
        """The API (and storage) form: content plus flags and their evidence, money as a
        decimal string."""
        body: dict[str, object] = dict(self.content())
        body["flags"] = list(self.flags)
        body["flag_details"] = [d.to_json() for d in self.flag_details]
        return body

    @classmethod
    def from_json(cls, body: dict[str, object]) -> Transaction:
        """Rebuild a stored transaction; the input is trusted (it was validated on the way in)."""
        def text(name: str) -> str | None:
            value = body.get(name)
            return None if value is None else str(value)

        flags = body.get("flags") or []
        details = body.get("flag_details") or []
        return cls(
            id=str(body["id"]),
            account=str(body["account"]),
            amount=Decimal(str(body["amount"])),
            currency=str(body["currency"]),
            type=str(body["type"]),
            timestamp=parse_timestamp(str(body["timestamp"])),
            description=text("description"),
            merchant=text("merchant"),
            counterparty=text("counterparty"),
            channel=text("channel"),
            flags=tuple(str(f) for f in flags) if isinstance(flags, list) else (),
            flag_details=tuple(FlagDetail.from_json(d) for d in details
                               if isinstance(d, dict)) if isinstance(details, list) else (),
        )
