"""Text anonymization for field reports: people, contacts, documents, exact places and accounts out; towns,
dates, times, counts, weapons and institutions kept."""

from .catalogue import CatalogueEntry, catalogue, places
from .engine import LANGUAGES, Engine, Entity, Known, Numbering, Result, detect_language, get_engine
from .pseudonym import hmac_pseudonymizer, person_key

__all__ = ["LANGUAGES", "CatalogueEntry", "Engine", "Entity", "Known", "Numbering", "Result", "catalogue",
           "detect_language", "get_engine", "hmac_pseudonymizer", "person_key", "places"]
