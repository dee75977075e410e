"""The pre-screen's plain-Python logic: answers, validation, extraction and the care route.

Nothing here imports Rasa, so every rule is tested as a plain function.
"""
