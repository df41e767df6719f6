"""dlarena: which deep learning framework to use, with evidence instead of opinions."""

__version__ = "0.1.0"
