"""The simulated bank's cast, drawn once from Faker: accounts, merchants, employers, people."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from faker import Faker

from simulator.money import DEFAULT_CURRENCIES

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT", "ja_JP")
ACCOUNT_CHARS = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9._:-]{1,34}")  # the API's account rule
CATEGORIES = ("groceries", "fuel", "restaurant", "travel", "electronics", "pharmacy",
              "utilities", "subscription", "clothing", "entertainment")
CHANNELS = ("card_present", "online", "mobile", "atm", "transfer", "direct_debit")


@dataclass(frozen=True)
class Account:
    """A customer account: an IBAN, its holder, its currency and how busy it is."""

    iban: str
    holder: str
    currency: str
    weight: float


@dataclass(frozen=True)
class Merchant:
    """Somewhere money is spent."""

    name: str
    category: str


@dataclass(frozen=True)
class Cast:
    """Everything the generator picks from; built once, then sampled with a fast RNG."""

    accounts: tuple[Account, ...]
    merchants: tuple[Merchant, ...]
    employers: tuple[str, ...]
    people: tuple[str, ...]


def _fakers(seed: int) -> list[Faker]:
    # One Faker per locale, each seeded differently: a multi-locale Faker seeds every locale
    # alike, which makes neighbouring draws repeat.
    fakers = []
    for i, locale in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed * 1009 + i)
        fakers.append(fake)
    return fakers


def build_cast(seed: int, accounts: int, currencies: tuple[str, ...] = DEFAULT_CURRENCIES,
               merchants: int = 300) -> Cast:
    """A reproducible cast for `seed`: same seed, same accounts, merchants and names."""
    rng = random.Random(seed)
    fakers = _fakers(seed)
    # The first currency is the most common, the others less and less so.
    currency_weights = [1.0 / (i + 1) for i in range(len(currencies))]
    pool: list[Account] = []
    seen: set[str] = set()
    while len(pool) < accounts:
        fake = rng.choice(fakers)
        iban = fake.iban()
        if iban in seen or not ACCOUNT_CHARS.fullmatch(iban):
            continue
        seen.add(iban)
        # Activity is skewed (a few busy accounts, many quiet ones) but not so much that
        # ordinary traffic trips the velocity rule everywhere.
        pool.append(Account(iban, fake.name(), rng.choices(currencies, currency_weights)[0],
                            rng.lognormvariate(0, 0.5)))
    shops = tuple(Merchant(rng.choice(fakers).company()[:100], rng.choice(CATEGORIES))
                  for _ in range(merchants))
    employers = tuple(rng.choice(fakers).company()[:100] for _ in range(40))
    people = tuple(rng.choice(fakers).name()[:100] for _ in range(200))
    return Cast(tuple(pool), shops, employers, people)
