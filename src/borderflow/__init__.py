"""borderflow: keeps freight moving across land border gates."""

__version__ = "0.1.0"
