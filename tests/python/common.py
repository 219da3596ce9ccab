"""Helpers shared by the check_*.py scripts: reporting, comparisons, TAXII errors.

The scripts import it as `common`; Python puts a script's own folder first on
sys.path, so that works from any working directory.
"""

import re
import sys
import traceback

from requests.exceptions import HTTPError

TAXII21 = "application/taxii+json;version=2.1"
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class Mismatch(Exception):
    pass


def fail(msg):
    raise Mismatch(msg)


def ok(msg):
    print(f"ok   {msg}", flush=True)


def short(value, limit=800):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def expect_eq(what, got, want):
    if got != want:
        fail(f"{what}: got {short(got)}, expected {short(want)}")


def expect_http_error(what, call, status):
    """`call()` must raise requests' HTTPError with this status and a TAXII error body.

    Returns the error's response."""
    try:
        call()
    except HTTPError as e:
        response = e.response
        expect_eq(f"{what}: HTTP status", response.status_code, status)
        expect_eq(f"{what}: Content-Type", response.headers.get("Content-Type"), TAXII21)
        body = response.json()
        expect_eq(f"{what}: http_status", body.get("http_status"), str(status))
        if not body.get("title"):
            fail(f"{what}: the error has no title: {body}")
        return response
    fail(f"{what}: expected HTTP {status}, but the call succeeded")


def run_checks(checks, names, kind):
    """Runs each method `names` of `checks`, every one even after a failure, printing
    `FAIL name: ...` (and the traceback on stderr) for each that raises.

    Returns the exit status: 1 if any failed, else 0 after `all KIND checks passed`."""
    failed = []
    for name in names:
        try:
            getattr(checks, name)()
        except Exception as e:  # noqa: BLE001 - every check runs, failures are reported together
            failed.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(file=sys.stderr)
    if failed:
        print(f"{len(failed)} check(s) failed: {', '.join(failed)}", flush=True)
        return 1
    print(f"all {kind} checks passed", flush=True)
    return 0
