"""Sending to residents: turning the bot's answer into platform messages (public or private, within each channel's
limits), the durable queue's sender with retries, the platform API calls, and messages that start with staff.
"""
