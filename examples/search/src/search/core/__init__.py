"""Plumbing shared by every interface. Owned by the template: change it upstream."""
