"""Handover cases: opening and working them, the one place a conversation leaves the bot, business hours and
service-level targets, and the figures managers ask for.
"""
