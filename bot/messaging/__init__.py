"""Text messages and calls: the rules the Twilio connectors and the outbound sender share.

Everything here except `store` and `outbound` is pure Python with no Rasa or Twilio import,
so it is tested as plain functions.
"""
