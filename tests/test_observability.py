"""Structured log lines and per-batch CALL tallies (no Ray needed)."""

from __future__ import annotations

import io
import json
import logging

from actors import logs
from actors.events import Event
from actors.metrics import CallTally


def _event(direction: str, kind: str, action: str, payload: str = "{}") -> Event:
    return Event(station_id="CP-1", received_at_us=1, direction=direction, message_type=kind,
                 message_id="m1", action=action, payload=payload)


def test_a_log_line_about_a_station_is_one_json_object_with_its_ids():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("csms.test-structured")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.info("command %s", "answered", extra={"station_id": "CP-1", "message_id": "m-7", "action": "Reset"})
    line = json.loads(stream.getvalue())
    assert line["msg"] == "command answered" and line["level"] == "INFO" and line["logger"] == "csms.test-structured"
    assert (line["station_id"], line["message_id"], line["action"]) == ("CP-1", "m-7", "Reset")
    assert line["ts"].endswith("+00:00")


def test_secret_fields_are_masked_even_if_a_caller_passes_them():
    record = logging.LogRecord("csms.x", logging.INFO, __file__, 1, "connect", (), None)
    record.station_id = "CP-1"
    record.password = "hunter2-hunter2-hunter2"
    record.token = "tok-123"
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["password"] == "***" and line["token"] == "***" and line["station_id"] == "CP-1"
    assert "hunter2" not in json.dumps(line)


def test_configure_is_idempotent_and_keeps_csms_lines_out_of_the_root_logger():
    logs.configure()
    logs.configure()
    logger = logging.getLogger(logs.ROOT_LOGGER)
    assert sum(isinstance(h.formatter, logs.JsonFormatter) for h in logger.handlers) == 1
    assert logger.propagate is False


def test_call_tally_counts_answers_by_action_and_outcome_only():
    tally = CallTally()
    tally.add([
        _event("in", "CALL", "Heartbeat"), _event("out", "CALLRESULT", "Heartbeat"),
        _event("in", "CALL", "Heartbeat"), _event("out", "CALLRESULT", "Heartbeat"),
        _event("out", "CALLERROR", "FlyToTheMoon", '["NotImplemented", "no", {}]'),
        _event("out", "CALLERROR", "", '["FormationViolation", "bad", {}]'),
        _event("out", "CALL", "Reset"),  # our command, not an answer
        _event("in", "CALLRESULT", "Reset"),  # the station's answer to it
    ])
    assert tally == {("Heartbeat", "CALLRESULT"): 2, ("FlyToTheMoon", "NotImplemented"): 1,
                     ("unknown", "FormationViolation"): 1}


async def test_the_event_log_reports_every_fsync_latency(tmp_path):
    from actors.event_log import EventLog

    latencies: list[float] = []
    log = EventLog(tmp_path / "wal", 1 << 20, 3600, on_fsync=latencies.append)
    log.append([_event("in", "CALL", "Heartbeat")])
    await log.commit()
    log.append([_event("in", "CALL", "Heartbeat")])
    log.rotate()  # sealing fsyncs too
    assert len(latencies) == log.stats()["fsyncs"] == 2
    assert all(0 <= s < 5 for s in latencies)
    log.close()
