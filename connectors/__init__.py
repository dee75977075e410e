"""The project's own Rasa input channels (Twilio SMS and voice arrive in a later issue).

Rasa's built-in Twilio channels skip signature checks and block the event loop, so ours
live here and are registered in credentials.yml.
"""
