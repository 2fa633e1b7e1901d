"""OCPP 2.0.1: the station-facing protocol of 2.0.1 stations (issue 11); for now its typed payloads."""
