"""Messages in and out of the channels exactly once: conversations and deliveries seen, the inbound queue, the
durable outbox, claims on queued work and who may use a conversation.
"""
