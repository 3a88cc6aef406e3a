"""The example domain: short notes keyed by a slug. Replace it with your own."""
