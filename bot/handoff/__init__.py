"""Handing a conversation to a person: recording it (service), texting staff, resuming the bot."""
