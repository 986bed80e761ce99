"""Sharing agreements as data (Art. 14, Art. 22).

An agreement lets a *user* department compare its own records with a
*provider* department's datasets under given catalog entries, for declared
purposes, and names the provider attributes the user learns for its matches.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from aidlink.matcher.purposes import BY_NAME as PURPOSE_NAMES

DEPARTMENTS = ("mca", "edu", "hrss", "housing", "health", "mem", "nhsa", "rural", "union", "cdpf")
# Volume limits when an agreement states none (matcher.policy): the share of the provider's admitted
# records one call, and all calls of `period_days`, may reveal to the user department. The demo's
# Art. 14(4) exchange reveals 20% of nhsa's records; Art. 14(1) states its own, higher, limits.
DEFAULT_MAX_SHARE_PER_CALL = 0.5
DEFAULT_MAX_SHARE_PER_PERIOD = 0.6
DEFAULT_PERIOD_DAYS = 30


class AgreementError(ValueError):
    pass


@dataclass(frozen=True)
class Agreement:
    id: str
    title: str
    providers: tuple[str, ...]
    users: tuple[str, ...]
    catalog_entries: tuple[str, ...]
    purposes: tuple[str, ...]
    returns: tuple[str, ...]
    record_filter: tuple[Mapping[str, tuple[str, ...]], ...]
    valid_from: date
    valid_until: date
    onward_sharing: str
    article: str = ""
    min_threshold: float | None = None  # raises the schema's threshold floor (matcher.policy)
    max_share_per_call: float = DEFAULT_MAX_SHARE_PER_CALL
    max_share_per_period: float = DEFAULT_MAX_SHARE_PER_PERIOD
    period_days: int = DEFAULT_PERIOD_DAYS
    # The other agreements in force that cover the same user, provider and catalog entry: a
    # record takes part only if every one of them admits it too (see `AgreementSet.bound`).
    bound_with: tuple[Agreement, ...] = ()

    def admits(self, record_attributes: Mapping[str, str]) -> bool:
        """Whether a provider record takes part in matching under this agreement."""
        return self._filter_admits(record_attributes) and all(
            a._filter_admits(record_attributes) for a in self.bound_with
        )

    def _filter_admits(self, record_attributes: Mapping[str, str]) -> bool:
        if not self.record_filter:
            return True
        return any(
            all(record_attributes.get(k, "") in allowed for k, allowed in alt.items()) for alt in self.record_filter
        )

    @property
    def filter_attributes(self) -> tuple[str, ...]:
        """The provider attributes this agreement (and those bound with it) select records by."""
        names = {k for a in (self, *self.bound_with) for alt in a.record_filter for k in alt}
        return tuple(sorted(names))

    def describe_filter(self) -> str:
        """The record filter as a person reads it, e.g. "school_age in {school-age}"."""
        parts = []
        for a in (self, *self.bound_with):
            if a.record_filter:
                alts = [
                    " and ".join(f"{k} in {{{', '.join(sorted(v))}}}" for k, v in sorted(alt.items()))
                    for alt in a.record_filter
                ]
                parts.append(f"{a.id}: " + " or ".join(alts))
        return "; ".join(parts) or "no filter"

    @property
    def filter_key(self) -> tuple[str, ...]:
        """Names the records `admits` lets through (the agreement and those bound with it)."""
        return (self.id, *sorted(a.id for a in self.bound_with))

    def in_force(self, today: date) -> bool:
        return self.valid_from <= today <= self.valid_until


@dataclass(frozen=True)
class Refusal:
    """Why no agreement allows a call: a message naming what is missing."""

    message: str


@dataclass(frozen=True)
class AgreementSet:
    version: str
    agreements: tuple[Agreement, ...]

    def find(
        self, *, user: str, provider: str, catalog_entry: str, purpose: str, today: date | None = None
    ) -> Agreement | Refusal:
        today = today or date.today()
        candidates = [
            a
            for a in self.agreements
            if user in a.users and provider in a.providers and catalog_entry in a.catalog_entries
        ]
        if not candidates:
            return Refusal(
                f"no sharing agreement lets {user} use {provider}'s {catalog_entry} (agreement set {self.version})"
            )
        for a in candidates:
            if purpose in a.purposes and a.in_force(today):
                return a
        for a in candidates:
            if purpose not in a.purposes:
                continue
            return Refusal(f"agreement {a.id} is not in force on {today} (valid {a.valid_from} to {a.valid_until})")
        ids = ", ".join(a.id for a in candidates)
        allowed = sorted({p for a in candidates for p in a.purposes})
        return Refusal(f"agreement {ids} does not allow purpose {purpose!r} (allowed: {', '.join(allowed)})")

    def covering(self, *, user: str, provider: str, catalog_entry: str, today: date) -> list[Agreement]:
        """Every agreement in force that lets `user` use `provider`'s `catalog_entry`, whatever its purposes."""
        return [
            a
            for a in self.agreements
            if user in a.users and provider in a.providers and catalog_entry in a.catalog_entries and a.in_force(today)
        ]

    def bound(self, agreement: Agreement, *, user: str, provider: str, catalog_entry: str, today: date) -> Agreement:
        """`agreement` with every other agreement covering the same user, provider and entry bound to
        its record filter: declaring another purpose never widens the records that take part."""
        others = tuple(
            a
            for a in self.covering(user=user, provider=provider, catalog_entry=catalog_entry, today=today)
            if a.id != agreement.id
        )
        return replace(agreement, bound_with=others)

    def for_user(self, user: str) -> list[Agreement]:
        return [a for a in self.agreements if user in a.users]

    @classmethod
    def load(cls, path: Path | None = None) -> AgreementSet:
        if path is None:
            text = resources.files("aidlink.matcher.data").joinpath("agreements.toml").read_text("utf-8")
            return cls.parse(text, "embedded agreements.toml")
        return cls.parse(Path(path).read_text("utf-8"), str(path))

    @classmethod
    def parse(cls, text: str, source: str = "agreements") -> AgreementSet:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise AgreementError(f"{source}: not valid TOML: {exc}") from None
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise AgreementError(f"{source}: missing agreement set 'version'")
        seen: set[str] = set()
        out = []
        for i, raw in enumerate(data.get("agreement", [])):
            a = _parse_agreement(raw, f"{source}: agreement #{i + 1}")
            if a.id in seen:
                raise AgreementError(f"{source}: duplicate agreement id {a.id!r}")
            seen.add(a.id)
            out.append(a)
        return cls(version, tuple(out))


def _names(value: object, where: str, key: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise AgreementError(f"{where}: {key!r} must be a non-empty string or list of strings")
    return tuple(items)


LIMIT_KEYS = ("min_threshold", "max_share_per_call", "max_share_per_period", "period_days")


def _limits(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The policy limits an agreement states (matcher.policy), checked; unstated ones keep defaults."""
    out: dict[str, Any] = {}
    for key in ("min_threshold", "max_share_per_call", "max_share_per_period"):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise AgreementError(f"{where}: {key} must be a number in (0, 1], got {value!r}")
            out[key] = float(value)
    if "period_days" in raw:
        days = raw["period_days"]
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise AgreementError(f"{where}: period_days must be a whole number of days >= 1, got {days!r}")
        out["period_days"] = days
    per_call = out.get("max_share_per_call", DEFAULT_MAX_SHARE_PER_CALL)
    per_period = out.get("max_share_per_period", DEFAULT_MAX_SHARE_PER_PERIOD)
    if per_period < per_call:
        raise AgreementError(
            f"{where}: max_share_per_period ({per_period:g}) is below max_share_per_call "
            f"({per_call:g}); a period holds at least one call"
        )
    return out


def _parse_agreement(raw: dict[str, Any], where: str) -> Agreement:
    required = ("id", "provider", "user", "catalog_entries", "purposes", "returns", "valid_from", "valid_until")
    missing = [k for k in required if k not in raw]
    if missing:
        raise AgreementError(f"{where}: missing {', '.join(missing)}")
    where = f"{where} ({raw['id']})"
    unknown = set(raw) - set(required) - {"title", "record_filter", "onward_sharing", "article"} - set(LIMIT_KEYS)
    if unknown:
        raise AgreementError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    providers = _names(raw["provider"], where, "provider")
    users = _names(raw["user"], where, "user")
    for d in providers + users:
        if d not in DEPARTMENTS:
            raise AgreementError(f"{where}: unknown department {d!r} (known: {', '.join(DEPARTMENTS)})")
    purposes = _names(raw["purposes"], where, "purposes")
    for p in purposes:
        if p not in PURPOSE_NAMES:
            raise AgreementError(f"{where}: unknown purpose {p!r} (known: {', '.join(PURPOSE_NAMES)})")
    valid_from, valid_until = raw["valid_from"], raw["valid_until"]
    if isinstance(valid_from, str):
        valid_from = date.fromisoformat(valid_from)
    if isinstance(valid_until, str):
        valid_until = date.fromisoformat(valid_until)
    if valid_until < valid_from:
        raise AgreementError(f"{where}: valid_until {valid_until} is before valid_from {valid_from}")
    record_filter = []
    for alt in raw.get("record_filter", []):
        if not isinstance(alt, dict) or not alt:
            raise AgreementError(f"{where}: record_filter alternatives must be non-empty tables")
        record_filter.append({k: _names(v, where, f"record_filter.{k}") for k, v in alt.items()})
    onward = raw.get("onward_sharing", "provider-consent")
    if onward not in ("provider-consent", "forbidden", "allowed"):
        raise AgreementError(f"{where}: onward_sharing must be provider-consent, forbidden or allowed")
    limits = _limits(raw, where)
    return Agreement(
        **limits,
        id=raw["id"],
        title=raw.get("title", ""),
        providers=providers,
        users=users,
        catalog_entries=_names(raw["catalog_entries"], where, "catalog_entries"),
        purposes=purposes,
        returns=tuple(raw["returns"]),
        record_filter=tuple(record_filter),
        valid_from=valid_from,
        valid_until=valid_until,
        onward_sharing=onward,
        article=raw.get("article", ""),
    )
