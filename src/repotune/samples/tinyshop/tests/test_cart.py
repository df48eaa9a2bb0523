import pytest

from tinyshop.cart import Cart
from tinyshop.catalog import Catalog, Product
from tinyshop.errors import OutOfStock
from tinyshop.pricing import BulkDiscount, apply_rules


def make_catalog():
    return Catalog([Product("A1", "Blue mug", 800, stock=3), Product("B2", "Tea", 450, stock=10)])


def test_add_reserves_stock():
    catalog = make_catalog()
    cart = Cart(catalog)
    cart.add("A1", 2)
    assert catalog.get("A1").stock == 1


def test_out_of_stock_leaves_stock_unchanged():
    catalog = make_catalog()
    with pytest.raises(OutOfStock):
        Cart(catalog).add("A1", 5)
    assert catalog.get("A1").stock == 3


def test_bulk_discount():
    cart = Cart(make_catalog())
    cart.add("B2", 6)
    assert apply_rules(cart, [BulkDiscount(5, 50)]) == 6 * 450 - 6 * 50
