"""Safety mechanisms that must not depend on the trained classifier."""
