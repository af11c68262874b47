"""Residents' data: what must not be said in public, pseudonyms for logs, retention, erasure and subject access
requests (across the knowledge base and Rasa's tracker store).
"""
