"""OCPP 2.0.1: the station-facing protocol of 2.0.1 stations (issue 11): typed payloads, answers and folds, the `Protocol`."""
