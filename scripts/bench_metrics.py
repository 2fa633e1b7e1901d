"""What the CSMS's metrics cost on the hot path: `python -m scripts.bench_metrics`.

Runs inside a Ray actor of a local Ray of its own (metrics register with the worker's core
worker) and prints microseconds per operation for what the gateway does per frame (one
histogram observation) and what a host does per batch (tally the answers, record per key).
"""

from __future__ import annotations

import json
import time


def main() -> int:
    import ray

    ray.init(address="local", include_dashboard=False, num_cpus=1, logging_level="ERROR")

    @ray.remote(num_cpus=0)
    class Bench:
        def run(self, n: int) -> dict[str, float]:
            from actors.events import Event
            from actors.metrics import CallTally, gateway_metrics, host_metrics

            gateway, host = gateway_metrics(), host_metrics("bench-host")
            started = time.perf_counter()
            for _ in range(n):
                gateway.call_latency.observe(0.004)
            observe_us = (time.perf_counter() - started) / n * 1e6
            batch = [Event(station_id=f"CP-{i}", received_at_us=0, direction=d, message_type=k,
                           message_id=str(i), action="MeterValues", payload="{}")
                     for i in range(100) for d, k in (("in", "CALL"), ("out", "CALLRESULT"))]
            started = time.perf_counter()
            rounds = max(1, n // 100)
            for _ in range(rounds):
                tally = CallTally()
                tally.add(batch)
                host.record_calls(tally)
            per_frame_us = (time.perf_counter() - started) / (rounds * 100) * 1e6
            started = time.perf_counter()
            for _ in range(n):
                host.commands.inc(1, tags={"action": "Reset", "outcome": "answered"})
            inc_us = (time.perf_counter() - started) / n * 1e6
            return {"histogram_observe_us": round(observe_us, 2),
                    "host_call_counting_us_per_frame_in_100_frame_batches": round(per_frame_us, 2),
                    "tagged_counter_inc_us": round(inc_us, 2)}

    print(json.dumps(ray.get(Bench.remote().run.remote(50_000)), indent=2))
    ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
