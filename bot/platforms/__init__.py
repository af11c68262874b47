"""Clients for the social platforms' APIs (Meta Graph, X)."""
