"""Exceptions raised by tinyshop."""


class ShopError(Exception):
    """Base class of every tinyshop error."""


class OutOfStock(ShopError):
    """A cart asked for more units than the catalogue holds."""

    def __init__(self, sku: str, wanted: int, available: int):
        super().__init__(f"{sku}: wanted {wanted}, only {available} in stock")
        self.sku = sku
        self.wanted = wanted
        self.available = available


class UnknownProduct(ShopError):
    """A SKU that is not in the catalogue."""


class PaymentDeclined(ShopError):
    """The payment gateway refused the charge."""
