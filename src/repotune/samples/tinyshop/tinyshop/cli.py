"""Command line: `python -m tinyshop.cli catalog.csv search TEXT`."""

from __future__ import annotations

import argparse
import sys

from tinyshop.catalog import load_catalog
from tinyshop.pricing import format_price


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the tinyshop command line."""
    parser = argparse.ArgumentParser(prog="tinyshop", description="Query a tinyshop catalogue.")
    parser.add_argument("catalog", help="catalogue CSV file")
    sub = parser.add_subparsers(dest="command", required=True)
    search = sub.add_parser("search", help="find products by name or tag")
    search.add_argument("text")
    low = sub.add_parser("low-stock", help="list products running out")
    low.add_argument("--threshold", type=int, default=5)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    args = build_parser().parse_args(argv)
    catalog = load_catalog(args.catalog)
    products = catalog.search(args.text) if args.command == "search" else catalog.low_stock(args.threshold)
    for product in products:
        print(f"{product.sku}\t{product.name}\t{format_price(product.price_cents)}\t{product.stock}")
    return 0 if products else 1


if __name__ == "__main__":
    sys.exit(main())
