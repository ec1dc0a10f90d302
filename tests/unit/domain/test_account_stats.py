"""What the account state keeps of a merchant: a short tag, stable across releases."""

from __future__ import annotations

from chalicelib.domain.account_stats import merchant_tag


def test_a_merchant_tag_is_eight_hex_digits_of_the_trimmed_lower_cased_name() -> None:
    # account states store these tags: a release that changed them would make every known
    # merchant look new to the rules that ask
    assert merchant_tag(" Acme Coffee ") == merchant_tag("ACME COFFEE") == "12be2b48"
    assert merchant_tag("Café") == "95c781c8"
