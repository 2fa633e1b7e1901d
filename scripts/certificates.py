"""`csms certificates`: list station certificates near expiry and, with --renew, ask those stations for a new CSR (1.6 ExtendedTriggerMessage / 2.0.1 TriggerMessage, use case A02).

It talks to a running CSMS through the operator API (GET /api/certificates, POST
/api/stations/{id}/certificate-renewal: the renewal command of the station's OCPP version), so
it runs anywhere the API is reachable, from cron or by hand:

    csms certificates --expiring-within 30d [--renew] [--url https://csms.example.net] [--json]

The token is CSMS_API_TOKEN, else the file --token-file (default: ./data/operator-token).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

# Per API call: the renewal command waits for the station's answer (command_timeout_s, 30 s).
TIMEOUT_S = 60.0


def days(text: str) -> float:
    """"30d", "30", "12h" or "90m" as days."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([dhm]?)\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30d, 12h)")
    value, unit = float(match.group(1)), match.group(2) or "d"
    return value / {"d": 1, "h": 24, "m": 1440}[unit]


class Api:
    def __init__(self, url: str, token: str, cafile: str | None) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.context = ssl.create_default_context(cafile=cafile) if self.url.startswith("https") else None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=self.headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=self.context) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")


def main(argv: list[str] | None = None, out=sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="csms certificates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--expiring-within", type=days, default=30.0, metavar="DURATION",
                        help="certificates that end within this (30d, 12h; default 30d)")
    parser.add_argument("--renew", action="store_true",
                        help="ask each such station for a new CSR (the renewal command of its OCPP version)")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the CSMS's API (default %(default)s)")
    parser.add_argument("--token-file", default="data/operator-token", help="used when CSMS_API_TOKEN is unset")
    parser.add_argument("--cafile", default=None, help="CA bundle to trust for an https --url")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    args = parser.parse_args(argv)
    token = os.environ.get("CSMS_API_TOKEN") or Path(args.token_file).read_text().strip()
    api = Api(args.url, token, args.cafile)
    status, page = api.request("GET", f"/api/certificates?expiring_within_days={args.expiring_within}")
    if status != 200:
        print(f"GET /api/certificates: HTTP {status} {page}", file=sys.stderr)
        return 2
    failed = 0
    for entry in page["certificates"]:
        row = {"station_id": entry["station_id"], "ocpp_version": entry["ocpp_version"], "connected": entry["connected"],
               "serial": entry["certificate"]["serial"], "not_after": entry["certificate"]["not_after"]}
        if args.renew:
            sent, answer = api.request("POST", f"/api/stations/{entry['station_id']}/certificate-renewal")
            row["renewal"] = answer.get("response", {}).get("status") if sent == 200 else f"HTTP {sent}"
            failed += row["renewal"] != "Accepted"
        if args.json:
            print(json.dumps(row), file=out)
        else:
            print("  ".join(f"{v}" for v in row.values()), file=out)
    if not args.json:
        print(f"{page['total']} certificate(s) end before {page['expiring_before']}", file=out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
