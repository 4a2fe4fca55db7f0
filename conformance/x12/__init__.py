"""X12 conformance: findings as data, and the TA1 / 999 / 997 rendered from them."""
