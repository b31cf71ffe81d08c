"""trafico: keeps the TráficoV2 tables in step with the depot's operational tables."""
__version__ = "0.1.0"
