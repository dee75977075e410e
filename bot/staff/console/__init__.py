"""The staff console's web side (Starlette): `python -m bot.staff.console` serves it."""
