"""silver.meter_values: one sampled value (station, EVSE, connector, sample time, measurand, phase, location), in SI units."""

from __future__ import annotations

import polars as pl

from analytics import tables as t
from analytics import units
from analytics.silver.frames import US_PER_DAY, table_frame
from analytics.silver.quarantine import Quarantine
from analytics.silver.records import SampledValues
from analytics.silver.transactions import Starts

_KEY = ["station_id", "evse", "connector", "sampled_at", "measurand", "phase", "location"]


def _conversions(pairs: pl.DataFrame) -> pl.DataFrame:
    """The SI conversion of each distinct (measurand, unit) pair, or why there is none."""
    rows = []
    for measurand, unit in pairs.iter_rows():
        try:
            si_unit, factor, offset = units.conversion(measurand, unit)
            error = None
        except units.UnitError as exc:
            si_unit, factor, offset, error = None, None, None, str(exc)
        rows.append((measurand, unit, units.effective_unit(measurand, unit), si_unit, factor, offset, error))
    return pl.DataFrame(rows, orient="row", schema={
        "measurand": pl.String, "unit_sent": pl.String, "unit": pl.String, "si_unit": pl.String,
        "factor": pl.Float64, "offset": pl.Float64, "unit_error": pl.String})


def meter_values(d: int, sampled: SampledValues, starts: Starts, quarantine: Quarantine) -> pl.DataFrame:
    """The values sampled on day `d`. The staging step flattened them into columns (in receive
    order, so the first copy of a sample sent twice is the one kept); dedupe, unit conversion
    and checks run vectorised; only what fails is looked at one by one, for its reason."""
    messages = sampled.messages
    connectors, evses, tx_ids = messages["connector"], messages["evse"], messages["transaction_id"]
    for i, connector in enumerate(connectors):
        if connector is None or (evses[i] is None and isinstance(tx_ids[i], str)):
            # A stop's meter data, a 2.0.1 event naming no EVSE: the connector its start named.
            start = starts.get((messages["station_id"][i], tx_ids[i]))
            if connector is None:
                # 0: the stop names no connector and its start is unknown (an orphan).
                connectors[i] = start.connector_id if start else 0
            if evses[i] is None and start is not None:
                evses[i] = start.evse_id
    # The version's transaction id in its own column, as silver.transactions has them.
    messages = {**messages, "transaction_id": [i if isinstance(i, int) else None for i in tx_ids],
                "station_transaction_id": [i if isinstance(i, str) else None for i in tx_ids]}
    samples = pl.DataFrame(sampled.samples, schema={"msg": pl.Int64, "sampled_at": pl.Int64, "multiplier": pl.Int64, **{
        k: pl.String for k in ("value", "context", "format", "measurand", "phase", "location", "unit_sent", "signed")}})
    samples = samples.filter((pl.col("sampled_at") // US_PER_DAY) == d)
    if samples.is_empty():
        return table_frame(t.METER_VALUES, [])
    messages = pl.DataFrame(messages, schema={
        "station_id": pl.String, "received_at": pl.Int64, "source": pl.String, "seq": pl.Int64, "evse": pl.Int64,
        "connector": pl.Int64, "transaction_id": pl.Int64, "station_transaction_id": pl.String})
    samples = pl.concat([messages[samples["msg"]], samples], how="horizontal").with_columns(
        measurand=pl.col("measurand").fill_null(units.DEFAULT_MEASURAND), location=pl.col("location").fill_null("Outlet"))
    samples = samples.join(_conversions(samples.select("measurand", "unit_sent").unique()),
                           on=["measurand", "unit_sent"], how="left", nulls_equal=True, maintain_order="left")
    signed = pl.col("format") == "SignedData"
    number = pl.col("value").cast(pl.Float64, strict=False)
    # 2.0.1 UnitOfMeasureType.multiplier: the value is value x 10^multiplier of the unit (J01, J02);
    # dividing by a power of ten, not multiplying by its inexact inverse, keeps 1225 x 10^-1 at 122.5.
    multiplier = pl.col("multiplier").fill_null(0)
    number = (pl.when(multiplier >= 0).then(number * pl.lit(10.0).pow(multiplier))
              .otherwise(number / pl.lit(10.0).pow(-multiplier)))
    samples = samples.with_columns(
        number=number,
        bad=~signed.fill_null(False) & (pl.col("unit_error").is_not_null() | number.is_null() | ~number.is_finite()),
    )
    for row in samples.filter("bad").select("msg", "value", "measurand", "unit_sent").iter_rows(named=True):
        try:
            units.to_si(row["value"], row["measurand"], row["unit_sent"])
        except units.UnitError as exc:
            # Named MeterValues even inside a stop's meter data: the reason is about the sample.
            quarantine.add({**sampled.rows[row["msg"]], "action": "MeterValues"}, f"MeterValues: {exc}")
    good = (
        samples.filter(~pl.col("bad"))
        # A retransmission, or the same sample again in transactionData: the first received wins.
        .unique(subset=_KEY, keep="first", maintain_order=True)
        .select(
            "station_id", pl.col("connector").alias("connector_id"), "transaction_id", "sampled_at", "received_at",
            "context", "measurand", "phase", "location", "unit", pl.col("value").alias("raw_value"),
            pl.when(signed).then(None).otherwise(pl.col("number") * pl.col("factor") + pl.col("offset")).alias("value"),
            pl.when(signed).then(None).otherwise(pl.col("si_unit")).alias("si_unit"),
            pl.col("evse").alias("evse_id"), "station_transaction_id", pl.col("multiplier").alias("unit_multiplier"),
            pl.col("signed").alias("signed_meter_value"),
        )
        .sort("station_id", "evse_id", "connector_id", "sampled_at", "measurand", "phase", "location",
              nulls_last=False)
    )
    return t.conform(t.METER_VALUES, good.with_columns(
        pl.col("sampled_at").cast(t.UTC_TS), pl.col("received_at").cast(t.UTC_TS)))
