"""commcredits: prepaid communication credits and license assignment."""

__version__ = "0.1.0"
