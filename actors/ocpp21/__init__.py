"""OCPP 2.1: for now its typed payloads (generated like actors/ocpp201/)."""
