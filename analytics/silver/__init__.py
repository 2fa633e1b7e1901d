"""Bronze rows -> the silver tables: pure functions, no files, no clocks (analytics.curate does the I/O).

One module per silver table, named after it, its grain in its first line (as
analytics.tables declares it); before them, one staging module per OCPP version reads that
version's bronze into the version-neutral records they consume (analytics.silver.staging).
`curate_day_frames` (analytics.silver.day) builds every day-partitioned table of one UTC
day; `stations` folds registrations and boots into the one table that is not. The rules:

- A station CALL counts when the CSMS answered it with a CALLRESULT (or its answer is not
  in bronze); one answered with a CALLERROR, a Malformed frame, a payload that does not
  decode under its OCPP version's schema, bronze of a version not curated, or a sampled
  value that is not a number in a known unit goes to quarantine with the reason. Nothing
  is dropped without a trace.
- Stations re-send a CALL they got no answer to (OCPP 1.6 section 4.8-4.10), so
  retransmissions are removed: a CALL with the station, message id, action and payload of
  one received at most tables.RETRANSMISSION_WINDOW_S before is that CALL again, whatever
  its timestamp (staging); then each table's grain applies: status changes by station
  timestamp and content (without one, each message is a status), meter values by their
  grain, starts by the transactionId the CSMS gave back, stops by transaction (orphans by
  content).
- A row's day is the day it happened by the station's clock where the message carries one.
- How an id tag was authorized comes from the AuthorizationDecided events
  (analytics.silver.decisions), folded onto the CALL they decided.
"""

from analytics.silver.day import curate_day_frames
from analytics.silver.identity import id_tag_hash
from analytics.silver.staging import INTERPRETED as INTERPRETED_ACTIONS
from analytics.silver.staging import (
    BOOT_ACTIONS, REMOTE_START_ACTIONS, SAMPLED_ACTIONS, START_ACTIONS, STOP_ACTIONS,
)
from analytics.silver.stations import stations

__all__ = ["BOOT_ACTIONS", "INTERPRETED_ACTIONS", "REMOTE_START_ACTIONS", "SAMPLED_ACTIONS", "START_ACTIONS",
           "STOP_ACTIONS", "curate_day_frames", "id_tag_hash", "stations"]
