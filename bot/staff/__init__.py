"""The staff console's plain-Python side: accounts, the handoff desk, figures. No Rasa, no web."""
