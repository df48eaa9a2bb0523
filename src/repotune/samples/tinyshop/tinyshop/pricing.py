"""Pricing rules: percentage discounts, bulk discounts and coupons applied to a cart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tinyshop.cart import Cart

COUPONS = {"WELCOME10": 10, "SPRING25": 25}


class PriceRule(Protocol):
    """A rule that returns the discount in cents it grants on a cart."""

    def discount_cents(self, cart: Cart) -> int: ...


@dataclass
class PercentOff:
    """A percentage off the whole cart."""

    percent: int

    def discount_cents(self, cart: Cart) -> int:
        """Return `percent` percent of the cart subtotal, rounded down."""
        return cart.subtotal_cents() * self.percent // 100


@dataclass
class BulkDiscount:
    """A discount per unit once a line reaches a minimum quantity."""

    min_quantity: int
    cents_off_per_unit: int

    def discount_cents(self, cart: Cart) -> int:
        """Return the discount for every line with at least `min_quantity` units."""
        return sum(line.quantity * self.cents_off_per_unit
                   for line in cart.lines.values() if line.quantity >= self.min_quantity)


def coupon_rule(code: str) -> PercentOff:
    """Return the percentage rule of a coupon code, or raise KeyError for an unknown code."""
    return PercentOff(COUPONS[code.upper()])


def apply_rules(cart: Cart, rules: list[PriceRule]) -> int:
    """Return the cart total in cents after every rule, never below zero."""
    total = cart.subtotal_cents()
    if cart.coupon:
        rules = [*rules, coupon_rule(cart.coupon)]
    for rule in rules:
        total -= rule.discount_cents(cart)
    return max(total, 0)


def format_price(cents: int, currency: str = "EUR") -> str:
    """Format an amount in cents as a string like '12.50 EUR'."""
    return f"{cents // 100}.{cents % 100:02d} {currency}"
