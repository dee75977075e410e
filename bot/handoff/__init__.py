"""Handing a conversation to a person: staff notification and resuming the bot afterwards."""
