"""Business rules on the canonical model: check digits, code lists, plausibility."""
