"""Payments through an HTTP payment gateway."""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass

from tinyshop.errors import PaymentDeclined

DEFAULT_GATEWAY = "https://payments.example.com/v1"


@dataclass
class Receipt:
    """What the gateway returns for an accepted charge."""

    charge_id: str
    amount_cents: int
    currency: str


class GatewayClient:
    """A small client of the payment gateway's REST API."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, timeout: float = 10.0):
        self.base_url = base_url or os.environ.get("TINYSHOP_GATEWAY", DEFAULT_GATEWAY)
        self.api_key = api_key or os.environ["TINYSHOP_GATEWAY_KEY"]
        self.timeout = timeout

    def _post(self, path: str, payload: dict) -> dict:
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            data=json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read())

    def charge(self, amount_cents: int, currency: str, card_token: str) -> Receipt:
        """Charge a card and return the receipt; raise PaymentDeclined when the gateway refuses."""
        answer = self._post("/charges", {"amount": amount_cents, "currency": currency, "source": card_token})
        if answer.get("status") != "succeeded":
            raise PaymentDeclined(answer.get("failure_message", "declined"))
        return Receipt(answer["id"], amount_cents, currency)

    def refund(self, charge_id: str) -> bool:
        """Refund a charge in full; return True when the gateway accepted the refund."""
        return self._post("/refunds", {"charge": charge_id}).get("status") == "succeeded"


def checkout(cart, client: GatewayClient, card_token: str, rules=()) -> Receipt:
    """Charge the cart's total after pricing rules and empty the cart on success."""
    from tinyshop.pricing import apply_rules

    total = apply_rules(cart, list(rules))
    try:
        receipt = client.charge(total, "EUR", card_token)
    except PaymentDeclined:
        cart.clear()
        raise
    cart.lines.clear()
    return receipt
