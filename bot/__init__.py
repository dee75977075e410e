"""Admissions helpline assistant: the Rasa project and its plain-Python logic."""
