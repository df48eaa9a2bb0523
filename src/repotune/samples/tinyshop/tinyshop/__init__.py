"""tinyshop: catalogue, carts, pricing and payments for a small web shop."""

from tinyshop.cart import Cart, CartLine
from tinyshop.catalog import Catalog, Product
from tinyshop.pricing import PriceRule, apply_rules

__all__ = ["Cart", "CartLine", "Catalog", "PriceRule", "Product", "apply_rules"]
