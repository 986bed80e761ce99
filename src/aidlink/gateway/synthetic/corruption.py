"""How department extracts get written differently from the truth: rates per variation."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from types import MappingProxyType

import opencc

from aidlink.gateway.synthetic.homophones import HOMOPHONES
from aidlink.gateway.synthetic.name_frequencies import FEMALE_GIVEN, MALE_GIVEN, SURNAME_SHARES

DATE_STYLES = ("compact", "iso", "slash", "chinese")  # 19850307, 1985-03-07, 1985/3/7, 1985年3月7日
SEX_STYLES = ("code", "chinese", "letter")  # 1/2, 男/女, M/F
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
# OpenCC s2t gives the traditional form of the *word* 余/于/范 (餘/於/範), never used for the surnames.
_NOT_CONVERTED = frozenset("余于范")
_MINORITY_SEPARATORS = (".", "・", "•", "．", "‧")


def _frozen(mapping: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class CorruptionProfile:
    """Per-row probability of each variation; style weights pick how dates and sex are written."""

    name_homophone: float = 0.0
    name_traditional: float = 0.0
    name_drop_character: float = 0.0
    name_spaces: float = 0.0
    minority_separator_variant: float = 0.0
    fullwidth_digits: float = 0.0
    legacy_id: float = 0.0  # 15-digit ID (only for persons born before 1985)
    id_typo: float = 0.0  # one transposed or mistyped digit: the row no longer validates
    id_lowercase_x: float = 0.0
    missing_id: float = 0.0
    missing_birth_date: float = 0.0  # only when the ID is present
    missing_phone: float = 0.0
    missing_address: float = 0.0
    phone_international: float = 0.0  # "+86 138 1234 5678"
    phone_dashes: float = 0.0  # "138-1234-5678"
    address_without_province: float = 0.0
    date_styles: Mapping[str, float] = field(default_factory=lambda: _frozen({"compact": 1.0}))
    sex_styles: Mapping[str, float] = field(default_factory=lambda: _frozen({"code": 1.0}))

    @classmethod
    def default(cls) -> CorruptionProfile:
        """Rates in the range seen in real departmental extracts."""
        return cls(
            name_homophone=0.03,
            name_traditional=0.03,
            name_drop_character=0.005,
            name_spaces=0.02,
            minority_separator_variant=0.5,
            fullwidth_digits=0.03,
            legacy_id=0.03,
            id_typo=0.01,
            id_lowercase_x=0.4,
            missing_id=0.01,
            missing_birth_date=0.05,
            missing_phone=0.05,
            missing_address=0.03,
            phone_international=0.08,
            phone_dashes=0.08,
            address_without_province=0.3,
            date_styles=_frozen({"compact": 0.4, "iso": 0.3, "slash": 0.15, "chinese": 0.15}),
            sex_styles=_frozen({"code": 0.5, "chinese": 0.4, "letter": 0.1}),
        )

    @classmethod
    def hard(cls) -> CorruptionProfile:
        """A hard profile for linkage tests: well over a third of rows differ from the truth after
        normalization (homophones, traditional characters, dropped characters, ID typos and legacy
        IDs, missing fields). Pair it with :meth:`hard_blank_ids` on the other side (``hard_pair``)."""
        return cls(
            name_homophone=0.10,
            name_traditional=0.08,
            name_drop_character=0.03,
            name_spaces=0.05,
            minority_separator_variant=0.5,
            fullwidth_digits=0.05,
            legacy_id=0.08,
            id_typo=0.05,
            id_lowercase_x=0.4,
            missing_id=0.05,
            missing_birth_date=0.08,
            missing_phone=0.20,
            missing_address=0.15,
            phone_international=0.10,
            phone_dashes=0.10,
            address_without_province=0.3,
            date_styles=_frozen({"compact": 0.4, "iso": 0.3, "slash": 0.15, "chinese": 0.15}),
            sex_styles=_frozen({"code": 0.5, "chinese": 0.4, "letter": 0.1}),
        )

    @classmethod
    def hard_blank_ids(cls) -> CorruptionProfile:
        """The hard profile with 40% of resident ID numbers blank (one side of ``hard_pair``)."""
        return replace(cls.hard(), missing_id=0.40)

    @classmethod
    def hard_pair(cls) -> tuple[CorruptionProfile, CorruptionProfile]:
        """(side A, side B) of the hard linkage task: B has 40% of its ID numbers blank."""
        return cls.hard(), cls.hard_blank_ids()

    @classmethod
    def none(cls) -> CorruptionProfile:
        """No variation: rows are written exactly in normalized form."""
        return cls()


@lru_cache(maxsize=1)
def traditional_forms() -> Mapping[str, str]:
    """Simplified → traditional for name characters whose t2s conversion maps straight back."""
    s2t, t2s = opencc.OpenCC("s2t"), opencc.OpenCC("t2s")
    chars = set("".join(SURNAME_SHARES)) | set(MALE_GIVEN) | set(FEMALE_GIVEN) | set(HOMOPHONES)
    forms = {}
    for ch in sorted(chars - _NOT_CONVERTED):
        trad = s2t.convert(ch)
        if trad != ch and t2s.convert(trad) == ch:
            forms[ch] = trad
    return MappingProxyType(forms)


def corrupt_name(name: str, surname_length: int, profile: CorruptionProfile, rng: random.Random) -> str:
    if "·" in name:
        if rng.random() < profile.minority_separator_variant:
            name = name.replace("·", rng.choice(_MINORITY_SEPARATORS))
        return name
    surname, given = name[:surname_length], name[surname_length:]
    if given and rng.random() < profile.name_homophone:
        positions = [i for i, ch in enumerate(given) if ch in HOMOPHONES]
        if positions:
            i = rng.choice(positions)
            given = given[:i] + rng.choice(HOMOPHONES[given[i]]) + given[i + 1 :]
    if len(given) == 2 and rng.random() < profile.name_drop_character:
        given = given[rng.randrange(2)]
    name = surname + given
    if rng.random() < profile.name_traditional:
        forms = traditional_forms()
        positions = [i for i, ch in enumerate(name) if ch in forms]
        if positions:
            i = rng.choice(positions)
            name = name[:i] + forms[name[i]] + name[i + 1 :]
    if rng.random() < profile.name_spaces:
        name = name[:surname_length] + rng.choice((" ", "　")) + name[surname_length:]
    return name


def corrupt_id(id_number: str, birth: date, profile: CorruptionProfile, rng: random.Random) -> str:
    if rng.random() < profile.missing_id:
        return ""
    if birth.year < 1985 and rng.random() < profile.legacy_id:
        id_number = id_number[:6] + id_number[8:17]
    elif rng.random() < profile.id_typo:
        id_number = _typo(id_number, rng)
    if id_number.endswith("X") and rng.random() < profile.id_lowercase_x:
        id_number = id_number[:-1] + "x"
    return _maybe_full_width(id_number, profile, rng)


def _typo(id_number: str, rng: random.Random) -> str:
    digits = list(id_number)
    if rng.random() < 0.5:
        candidates = [i for i in range(16) if digits[i] != digits[i + 1]]
        if candidates:
            i = rng.choice(candidates)
            digits[i], digits[i + 1] = digits[i + 1], digits[i]
            return "".join(digits)
    i = rng.randrange(17)
    digits[i] = rng.choice([d for d in "0123456789" if d != digits[i]])
    return "".join(digits)


def write_date(birth: date, profile: CorruptionProfile, rng: random.Random) -> str:
    style = _pick(profile.date_styles, rng)
    if style == "iso":
        text = birth.isoformat()
    elif style == "slash":
        text = f"{birth.year}/{birth.month}/{birth.day}"
    elif style == "chinese":
        text = f"{birth.year}年{birth.month}月{birth.day}日"
    else:
        text = birth.strftime("%Y%m%d")
    return _maybe_full_width(text, profile, rng)


def write_sex(sex: str, profile: CorruptionProfile, rng: random.Random) -> str:
    style = _pick(profile.sex_styles, rng)
    if style == "chinese":
        return {"1": "男", "2": "女"}.get(sex, "")
    if style == "letter":
        return {"1": "M", "2": "F"}.get(sex, "")
    return sex


def corrupt_phone(phone: str, profile: CorruptionProfile, rng: random.Random) -> str:
    if not phone or rng.random() < profile.missing_phone:
        return ""
    mobile = phone.startswith("1")
    roll = rng.random()
    if roll < profile.phone_international:
        phone = f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}" if mobile else f"+86 {phone[1:]}"
    elif roll < profile.phone_international + profile.phone_dashes:
        phone = f"{phone[:3]}-{phone[3:7]}-{phone[7:]}" if mobile else f"{phone[:-8]}-{phone[-8:]}"
    return _maybe_full_width(phone, profile, rng)


def corrupt_address(address: str, profile: CorruptionProfile, rng: random.Random) -> str:
    if rng.random() < profile.missing_address:
        return ""
    if address.startswith("江苏省") and rng.random() < profile.address_without_province:
        return address[3:]
    return address


def _maybe_full_width(text: str, profile: CorruptionProfile, rng: random.Random) -> str:
    return text.translate(_FULL_WIDTH) if rng.random() < profile.fullwidth_digits else text


def _pick(weights: Mapping[str, float], rng: random.Random) -> str:
    if len(weights) == 1:
        return next(iter(weights))
    return rng.choices(list(weights), list(weights.values()))[0]
