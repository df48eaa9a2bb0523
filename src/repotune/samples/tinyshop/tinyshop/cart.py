"""Shopping carts: lines of products and quantities, reserved against the catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field

from tinyshop.catalog import Catalog, Product
from tinyshop.errors import ShopError


@dataclass
class CartLine:
    """One product and how many units of it are in the cart."""

    product: Product
    quantity: int

    @property
    def subtotal_cents(self) -> int:
        """Price of the line before discounts."""
        return self.product.price_cents * self.quantity


@dataclass
class Cart:
    """A customer's cart. Adding a product reserves its stock in the catalogue."""

    catalog: Catalog
    lines: dict[str, CartLine] = field(default_factory=dict)
    coupon: str | None = None

    def add(self, sku: str, quantity: int = 1) -> CartLine:
        """Add units of a product, reserving them in the catalogue."""
        if quantity <= 0:
            raise ShopError(f"quantity must be positive, got {quantity}")
        product = self.catalog.reserve(sku, quantity)
        line = self.lines.get(sku)
        if line is None:
            line = self.lines[sku] = CartLine(product, 0)
        line.quantity += quantity
        return line

    def remove(self, sku: str) -> None:
        """Remove a product from the cart and return its units to stock."""
        line = self.lines.pop(sku, None)
        if line is not None:
            self.catalog.release(sku, line.quantity)

    def clear(self) -> None:
        """Empty the cart, returning every reserved unit to stock."""
        for sku in list(self.lines):
            self.remove(sku)

    def item_count(self) -> int:
        """Total number of units in the cart."""
        return sum(line.quantity for line in self.lines.values())

    def subtotal_cents(self) -> int:
        """Sum of the line subtotals, before pricing rules."""
        return sum(line.subtotal_cents for line in self.lines.values())
