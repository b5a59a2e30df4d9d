"""Shipping methods offered at checkout, and what each costs for a given subtotal."""

from __future__ import annotations

from dataclasses import dataclass

FREE_STANDARD_FROM_CENTS = 5000


@dataclass(frozen=True)
class ShippingMethod:
    code: str
    label: str
    days: str
    price_cents: int

    def cost(self, subtotal_cents: int) -> int:
        """The charge for an order with this subtotal (standard ships free above a threshold)."""
        if self.code == "standard" and subtotal_cents >= FREE_STANDARD_FROM_CENTS:
            return 0
        return self.price_cents


METHODS: dict[str, ShippingMethod] = {
    m.code: m
    for m in (
        ShippingMethod("standard", "Standard shipping", "3-5 business days", 599),
        ShippingMethod("express", "Express shipping", "1-2 business days", 1499),
        ShippingMethod("pickup", "Store pickup", "ready tomorrow", 0),
    )
}
