"""The product catalogue: products by SKU with stock levels."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from tinyshop.errors import OutOfStock, UnknownProduct


@dataclass
class Product:
    """A product that can be sold."""

    sku: str
    name: str
    price_cents: int
    stock: int = 0
    tags: list[str] = field(default_factory=list)

    def is_available(self, quantity: int = 1) -> bool:
        """Return True when at least `quantity` units are in stock."""
        return self.stock >= quantity


class Catalog:
    """All products of the shop, indexed by SKU."""

    def __init__(self, products: list[Product] | None = None):
        self._products = {p.sku: p for p in products or []}

    def __len__(self) -> int:
        return len(self._products)

    def add(self, product: Product) -> None:
        """Add a product, replacing any product with the same SKU."""
        self._products[product.sku] = product

    def get(self, sku: str) -> Product:
        """Return the product with this SKU or raise UnknownProduct."""
        try:
            return self._products[sku]
        except KeyError:
            raise UnknownProduct(sku) from None

    def reserve(self, sku: str, quantity: int) -> Product:
        """Take `quantity` units of a product out of stock.

        Raises OutOfStock when fewer units are available, leaving the stock unchanged.
        """
        product = self.get(sku)
        if not product.is_available(quantity):
            raise OutOfStock(sku, quantity, product.stock)
        product.stock -= quantity
        return product

    def release(self, sku: str, quantity: int) -> None:
        """Put `quantity` units of a product back into stock."""
        self.get(sku).stock += quantity

    def search(self, text: str) -> list[Product]:
        """Return the products whose name or tags contain `text`, case-insensitively."""
        needle = text.lower()
        return [p for p in self._products.values()
                if needle in p.name.lower() or any(needle in t.lower() for t in p.tags)]

    def low_stock(self, threshold: int = 5) -> list[Product]:
        """Return the products with fewer than `threshold` units, lowest stock first."""
        return sorted((p for p in self._products.values() if p.stock < threshold), key=lambda p: p.stock)


def load_catalog(path: str | Path) -> Catalog:
    """Load a catalogue from a CSV file with columns sku, name, price_cents, stock, tags."""
    catalog = Catalog()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            catalog.add(Product(
                sku=row["sku"],
                name=row["name"],
                price_cents=int(row["price_cents"]),
                stock=int(row.get("stock") or 0),
                tags=[t for t in (row.get("tags") or "").split(";") if t],
            ))
    return catalog


def export_catalog(catalog: Catalog, path: str | Path) -> int:
    """Write the catalogue as JSON lines and return the number of products written."""
    count = 0
    with open(path, "w") as f:
        for product in catalog.search(""):
            f.write(json.dumps(product.__dict__) + "\n")
            count += 1
    return count
