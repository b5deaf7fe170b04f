"""Alarm receivers and alarm phones: Contact ID, receiver output protocols, simulators."""
