"""ratchet serve: the shipped model behind an HTTP JSON API."""
