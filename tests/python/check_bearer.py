#!/usr/bin/env python3
"""taxii2client through the bearer-protected example server (examples/axum_bearer.rs).

Usage: check_bearer.py BASE_URL

The server is `cargo run --example axum_bearer -- --listen ADDR` with its demo data:
API root `api/v21` with "Shared indicators" (three demo indicators) and "Team notes"
(empty); `alice-token` reads and writes both, `bob-token` reads "Shared indicators" only.

Checks, each independent (every one runs; the script exits non-zero if any failed):
- as alice (a 5-line requests AuthBase sending `Authorization: Bearer alice-token`):
  discovery, the API root, both collections with can_read and can_write, the
  shared indicators readable, and an object added to "Team notes" reads back;
- as bob: only "Shared indicators" is listed, can_read true and can_write false;
- without credentials, and with a wrong token, `Server(...)` access raises an HTTP
  401 whose response has `WWW-Authenticate: Bearer ...` and a TAXII error body.
"""

import sys
import uuid

import requests
from taxii2client.v21 import Server

from common import expect_eq, expect_http_error, fail, ok, run_checks

SHARED = "5ab8ba20-6e1b-4c5c-9d0e-4f4a0a5b3c11"
NOTES = "9e0c1d7a-3b2f-4e6a-8c5d-2f1e0b9a8d77"


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class Checks:
    def __init__(self, base_url):
        self.discovery = base_url.rstrip("/") + "/taxii2/"

    def server(self, token=None):
        return Server(self.discovery, auth=BearerAuth(token) if token else None)

    def collections(self, token):
        server = self.server(token)
        api_roots = server.api_roots
        expect_eq("API roots listed", len(api_roots), 1)
        root = server.default or api_roots[0]
        if not root.url.endswith("/api/v21/"):
            fail(f"API root URL {root.url!r}")
        return {c.id: c for c in root.collections}

    def check_alice(self):
        collections = self.collections("alice-token")
        expect_eq("alice's collections", sorted(collections), sorted([SHARED, NOTES]))
        for c in collections.values():
            expect_eq(f"alice can_read {c.title}", c.can_read, True)
            expect_eq(f"alice can_write {c.title}", c.can_write, True)
        expect_eq("titles", sorted(c.title for c in collections.values()), ["Shared indicators", "Team notes"])
        shared = collections[SHARED].get_objects()
        expect_eq("shared indicators", len(shared.get("objects", [])), 3)
        ok("alice sees both collections, readable and writable, and the three shared indicators")

        notes = collections[NOTES]
        note = {
            "type": "note",
            "spec_version": "2.1",
            "id": f"note--{uuid.uuid4()}",
            "created": "2024-05-01T00:00:00.000Z",
            "modified": "2024-05-01T00:00:00.000Z",
            "content": "seen on the team's sensor",
            "object_refs": ["indicator--00000001-0000-4000-8000-000000000000"],
        }
        status = notes.add_objects({"objects": [note]})
        expect_eq("add_objects status", status.status, "complete")
        expect_eq("add_objects success_count", status.success_count, 1)
        expect_eq("the note read back", notes.get_object(note["id"]).get("objects"), [note])
        ok("alice adds a note to Team notes and reads it back")

    def check_bob(self):
        collections = self.collections("bob-token")
        expect_eq("bob's collections", list(collections), [SHARED])
        shared = collections[SHARED]
        expect_eq("bob can_read", shared.can_read, True)
        expect_eq("bob can_write", shared.can_write, False)
        expect_eq("bob reads the shared indicators", len(shared.get_objects().get("objects", [])), 3)
        ok("bob sees only Shared indicators, can_read true, can_write false")

    def expect_401(self, what, token):
        response = expect_http_error(what, lambda: self.server(token).api_roots, 401)
        challenge = response.headers.get("WWW-Authenticate", "")
        if not challenge.startswith("Bearer"):
            fail(f"{what}: WWW-Authenticate is {challenge!r}")

    def check_refused(self):
        self.expect_401("no credentials", None)
        self.expect_401("a wrong token", "carol-token")
        ok("without a token, and with a wrong one, Server access raises HTTP 401 with WWW-Authenticate: Bearer")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    return run_checks(Checks(sys.argv[1]), ["check_alice", "check_bob", "check_refused"], "bearer")


if __name__ == "__main__":
    sys.exit(main())
