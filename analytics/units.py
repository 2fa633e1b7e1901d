"""Meter values to SI base units: the one table that says how each OCPP unit is normalised.

OCPP 1.6 section 7.31 (UnitOfMeasure) and 7.30 (Measurand); OCPP 2.0.1 UnitOfMeasureType
(its unit names, plus a power-of-ten multiplier that silver.meter_values applies first) and
MeasurandEnumType, which adds net and apparent energy. silver.meter_values keeps the value
as sent (`raw_value`, `unit`) beside `value` in `si_unit`, so a reader never has to know
that a station sent kWh or Fahrenheit.
"""

from __future__ import annotations

import functools
import math

# unit as sent -> (SI unit, factor, offset): value_si = raw * factor + offset.
# "Celcius" is the 1.6 schema's own misspelling; "Hertz" comes from the 1.6 errata.
SI_UNITS: dict[str, tuple[str, float, float]] = {
    "Wh": ("Wh", 1.0, 0.0),
    "kWh": ("Wh", 1000.0, 0.0),
    "varh": ("varh", 1.0, 0.0),
    "kvarh": ("varh", 1000.0, 0.0),
    "VAh": ("VAh", 1.0, 0.0),  # 2.0.1 Energy.Apparent.*
    "kVAh": ("VAh", 1000.0, 0.0),
    "W": ("W", 1.0, 0.0),
    "kW": ("W", 1000.0, 0.0),
    "VA": ("VA", 1.0, 0.0),
    "kVA": ("VA", 1000.0, 0.0),
    "var": ("var", 1.0, 0.0),
    "kvar": ("var", 1000.0, 0.0),
    "A": ("A", 1.0, 0.0),
    "V": ("V", 1.0, 0.0),
    "K": ("Celsius", 1.0, -273.15),
    "Celsius": ("Celsius", 1.0, 0.0),
    "Celcius": ("Celsius", 1.0, 0.0),
    "Fahrenheit": ("Celsius", 5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "Percent": ("Percent", 1.0, 0.0),
    "Hertz": ("Hz", 1.0, 0.0),
    "Hz": ("Hz", 1.0, 0.0),  # 2.0.1's spelling
}

# Measurand -> the unit assumed when a sampled value names none. OCPP 1.6 gives "Wh" as
# the default unit, which only makes sense for energy; for the other measurands their
# natural unit is the only reading that is not certainly wrong. None: dimensionless.
DEFAULT_UNIT: dict[str, str | None] = {
    "Energy.Active.Export.Register": "Wh", "Energy.Active.Import.Register": "Wh",
    "Energy.Active.Export.Interval": "Wh", "Energy.Active.Import.Interval": "Wh",
    "Energy.Reactive.Export.Register": "varh", "Energy.Reactive.Import.Register": "varh",
    "Energy.Reactive.Export.Interval": "varh", "Energy.Reactive.Import.Interval": "varh",
    "Energy.Active.Net": "Wh", "Energy.Reactive.Net": "varh",  # 2.0.1
    "Energy.Apparent.Net": "VAh", "Energy.Apparent.Import": "VAh", "Energy.Apparent.Export": "VAh",
    "Power.Active.Export": "W", "Power.Active.Import": "W", "Power.Offered": "W",
    "Power.Reactive.Export": "var", "Power.Reactive.Import": "var",
    "Power.Factor": None, "RPM": None,
    "Current.Import": "A", "Current.Export": "A", "Current.Offered": "A",
    "Voltage": "V", "Frequency": "Hz", "Temperature": "Celsius", "SoC": "Percent",
}

# Which SI units make sense for a measurand: energy in kW would be a station bug, and
# summing it as Wh would silently corrupt billing, so such a value is quarantined.
# Active power may be reported as apparent power (VA) by some meters: accepted as sent.
_FITTING_SI: dict[str, frozenset[str | None]] = {
    "Energy.Active": frozenset({"Wh"}),
    "Energy.Reactive": frozenset({"varh"}),
    "Energy.Apparent": frozenset({"VAh"}),
    "Power.Active": frozenset({"W", "VA"}),
    "Power.Offered": frozenset({"W", "VA"}),
    "Power.Reactive": frozenset({"var"}),
    "Power.Factor": frozenset({None, "Percent"}),
    "Current": frozenset({"A"}),
    "Voltage": frozenset({"V"}),
    "Frequency": frozenset({"Hz"}),
    "Temperature": frozenset({"Celsius"}),
    "SoC": frozenset({"Percent"}),
    "RPM": frozenset({None}),
}

DEFAULT_MEASURAND = "Energy.Active.Import.Register"


class UnitError(ValueError):
    """A sampled value that cannot be put in SI units; the message is the quarantine reason."""


def _family(measurand: str) -> str:
    for prefix in _FITTING_SI:
        if measurand.startswith(prefix):
            return prefix
    return measurand


def effective_unit(measurand: str, unit: str | None) -> str | None:
    """The unit a sampled value is in: as sent, else the measurand's natural unit."""
    if unit is not None:
        return unit
    if measurand in DEFAULT_UNIT:
        return DEFAULT_UNIT[measurand]
    return "Wh"


@functools.lru_cache(maxsize=1024)
def conversion(measurand: str, unit: str | None) -> tuple[str | None, float, float]:
    """(SI unit, factor, offset) for a measurand sent in `unit`; raises UnitError if there is none."""
    sent = effective_unit(measurand, unit)
    if sent is None:
        si_unit, factor, offset = None, 1.0, 0.0
    elif sent in SI_UNITS:
        si_unit, factor, offset = SI_UNITS[sent]
    else:
        raise UnitError(f"unknown unit {sent!r} for {measurand}")
    fitting = _FITTING_SI.get(_family(measurand))
    if fitting is not None and si_unit not in fitting:
        raise UnitError(f"unit {sent!r} does not fit measurand {measurand}")
    return si_unit, factor, offset


def to_si(raw_value: str, measurand: str, unit: str | None) -> tuple[float, str | None]:
    """(value in SI, SI unit) of one sampled value; raises UnitError saying why it cannot be."""
    si_unit, factor, offset = conversion(measurand, unit)
    try:
        number = float(raw_value)
    except ValueError:
        raise UnitError(f"value {raw_value[:40]!r} of {measurand} is not a number") from None
    if not math.isfinite(number):
        raise UnitError(f"value {raw_value[:40]!r} of {measurand} is not a finite number")
    return number * factor + offset, si_unit
