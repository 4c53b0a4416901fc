"""The outbox: side effects (notifications, webhooks, messages to the other side's platform) are
written in the same transaction as the change that causes them, and a sender delivers them later
with retries. Nothing is sent from a transaction that might still roll back; nothing is lost when
a sender dies (its claims expire with their lease)."""
