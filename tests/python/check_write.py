#!/usr/bin/env python3
"""The write side of a tower-taxii server with the real Python TAXII clients.

Usage: check_write.py BASE_URL DATA_DIR

The server must serve one empty collection titled "Writable" with can_read and
can_write (`serve --writable <uuid>=Writable`). DATA_DIR holds
ics-attack-18.1.json, whose objects are posted and read back.

Checks, each independent (every one runs; the script exits non-zero if any failed):
- taxii2client `Collection.add_objects` with ATT&CK objects: the status it
  returns (complete, counts, successes with each id and version), the objects read
  back equal; a repeated post is all successes and changes nothing; a mixed envelope
  lists the bad object in `failures` with a message;
- the status as taxii2client fetches it again (`Status.refresh`), and as fetched
  without the trailing slash, is the status the POST returned;
- `stix2.TAXIICollectionSink` pushes objects that a `TAXIICollectionSource` reads
  back equal. stix2 (3.0) posts a STIX *bundle*, which TAXII 2.1 replaced by the
  envelope: the server runs with `--accept-bundles`, which takes a bundle's objects
  like an envelope's (without it, a bundle gets 422, as tests/write.rs checks);
- taxii2client `Collection.delete_object`, with and without `match[version]`.
"""

import json
import os
import re
import sys
import uuid

import requests
import stix2
from stix2 import Filter, TAXIICollectionSink, TAXIICollectionSource
from taxii2client.v21 import Collection, Server

from common import TAXII21, TIMESTAMP_RE, expect_eq, expect_http_error, fail, ok, run_checks, short


def version_of(obj):
    return obj.get("modified") or obj.get("created")


def check_status(what, status, expected_successes, expected_failures=0):
    """A taxii2client Status: complete, consistent, successes == expected (id, version) list."""
    expect_eq(f"{what}: status", status.status, "complete")
    total = len(expected_successes) + expected_failures
    expect_eq(f"{what}: total_count", status.total_count, total)
    expect_eq(f"{what}: success_count", status.success_count, len(expected_successes))
    expect_eq(f"{what}: failure_count", status.failure_count, expected_failures)
    expect_eq(f"{what}: pending_count", status.pending_count, 0)
    if not TIMESTAMP_RE.match(str(status.request_timestamp)):
        fail(f"{what}: request_timestamp {status.request_timestamp!r} is not a TAXII timestamp")
    got = sorted((d["id"], d["version"]) for d in (status.successes or []))
    expect_eq(f"{what}: successes", got, sorted(expected_successes))
    expect_eq(f"{what}: failures listed", len(status.failures or []), expected_failures)


class Checks:
    def __init__(self, base_url, data_dir):
        self.base_url = base_url.rstrip("/")
        with open(os.path.join(data_dir, "ics-attack-18.1.json"), encoding="utf-8") as f:
            self.attack = json.load(f)["objects"]
        server = Server(self.base_url + "/taxii2/")
        api_root = server.default or server.api_roots[0]
        writable = [c for c in api_root.collections if c.title == "Writable"]
        expect_eq("collections titled Writable", len(writable), 1)
        self.collection = writable[0]
        self.url = self.collection.url
        # Objects posted by the add_objects checks, for the read-back checks.
        self.posted = {}

    def pick_attack_objects(self):
        """A few ATT&CK objects of different kinds (one of each type, up to six)."""
        picked, types = [], set()
        for obj in self.attack:
            if obj["type"] in ("identity", "marking-definition", "attack-pattern", "relationship", "malware", "x-mitre-tactic"):
                if obj["type"] not in types:
                    types.add(obj["type"])
                    picked.append(obj)
        expect_eq("ATT&CK object kinds found", len(picked), 6)
        return picked

    def check_collection(self):
        c = self.collection
        expect_eq("Writable can_read", c.can_read, True)
        expect_eq("Writable can_write", c.can_write, True)
        if not re.fullmatch(r"[0-9a-f-]{36}", c.id):
            fail(f"collection id {c.id!r} is not a UUID")
        ok(f"the Writable collection {c.id} can be read and written")

    def check_add_objects(self):
        objects = self.pick_attack_objects()
        expected = [(o["id"], version_of(o)) for o in objects]
        status = self.collection.add_objects({"objects": objects})
        check_status("add_objects (ATT&CK)", status, expected)
        ok(f"add_objects: {len(objects)} ATT&CK objects, status complete with every success")
        for obj in objects:
            envelope = self.collection.get_object(obj["id"])
            expect_eq(f"get_object {obj['id']}", envelope.get("objects"), [obj])
            self.posted[obj["id"]] = obj
        ok("get_object returns each posted ATT&CK object unchanged")
        manifest = self.collection.get_manifest()
        records = {(r["id"], r["version"]) for r in manifest.get("objects", [])}
        for key in expected:
            if key not in records:
                fail(f"manifest lacks {key}: {short(manifest)}")
        for r in manifest["objects"]:
            if not TIMESTAMP_RE.match(r["date_added"]):
                fail(f"date_added {r['date_added']!r}")
        ok("the manifest lists them with TAXII date_added timestamps")

        # The same envelope again: every object is a success, nothing changes.
        before = self.collection.get_manifest(version="all")
        status = self.collection.add_objects(json.dumps({"objects": objects}).encode("utf-8"))
        check_status("add_objects (the same again)", status, expected)
        expect_eq("manifest after posting duplicates", self.collection.get_manifest(version="all"), before)
        ok("posting the same objects again: all successes, no new version or date_added")

    def check_mixed_envelope(self):
        good_id = f"indicator--{uuid.uuid4()}"
        bad_id = f"indicator--{uuid.uuid4()}"
        good = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": good_id,
            "created": "2024-01-01T00:00:00.000Z",
            "modified": "2024-01-01T00:00:00.000Z",
            "name": "good",
            "pattern": "[ipv4-addr:value = '198.51.100.7']",
            "pattern_type": "stix",
            "valid_from": "2024-01-01T00:00:00Z",
        }
        bad = dict(good, id=bad_id, type="malware", name="bad: the id's prefix is not its type")
        status = self.collection.add_objects({"objects": [good, bad]})
        check_status("add_objects (mixed)", status, [(good_id, good["modified"])], expected_failures=1)
        failure = status.failures[0]
        expect_eq("failure id", failure.get("id"), bad_id)
        if not failure.get("message"):
            fail(f"the failure has no message: {failure}")
        expect_eq("the good object", self.collection.get_object(good_id)["objects"], [good])
        expect_http_error("get_object of the refused object", lambda: self.collection.get_object(bad_id), 404)
        ok(f"mixed envelope: the good object stored, the bad one a failure ({failure['message']!r})")

    def check_status_refresh(self):
        obj = {
            "type": "identity",
            "spec_version": "2.1",
            "id": f"identity--{uuid.uuid4()}",
            "created": "2024-02-02T00:00:00.000Z",
            "modified": "2024-02-02T00:00:00.000Z",
            "name": "status check",
        }
        status = self.collection.add_objects({"objects": [obj, {"type": "identity"}]})
        posted = status._raw
        status.refresh()  # GET {api-root}/status/{id}/ (taxii2client validates the counts itself)
        expect_eq("the status fetched again", status._raw, posted)
        check_status("Status.refresh", status, [(obj["id"], obj["modified"])], expected_failures=1)
        without_slash = status.url.rstrip("/")
        response = requests.get(without_slash, headers={"Accept": TAXII21})
        expect_eq(f"GET {without_slash}", response.status_code, 200)
        expect_eq(f"GET {without_slash} Content-Type", response.headers.get("Content-Type"), TAXII21)
        expect_eq(f"GET {without_slash} body", response.json(), posted)
        ok("Status.refresh and GET status/{id} without the slash return the status the POST returned")

    def check_stix2_sink_and_source(self):
        indicators = [
            stix2.Indicator(
                name=f"sink indicator {n}",
                pattern=f"[ipv4-addr:value = '203.0.113.{n}']",
                pattern_type="stix",
                valid_from="2024-03-03T00:00:00Z",
            )
            for n in range(3)
        ]
        attack_pattern = next(o for o in self.attack if o["type"] == "attack-pattern" and o["id"] not in self.posted)
        attack_object = stix2.parse(attack_pattern, allow_custom=True)

        # stix2's sink posts a bundle, which this server takes because it runs with --accept-bundles.
        sink = TAXIICollectionSink(Collection(self.url), allow_custom=True)
        sink.add(indicators + [attack_object])
        source = TAXIICollectionSource(Collection(self.url), allow_custom=True)
        for original in indicators + [attack_object]:
            got = source.get(original["id"])
            if got is None:
                fail(f"TAXIICollectionSource.get({original['id']}) found nothing")
            expect_eq(f"read back {original['id']}", json.loads(got.serialize()), json.loads(original.serialize()))
        found = {o["id"] for o in source.query([Filter("type", "=", "indicator")])}
        for i in indicators:
            if i["id"] not in found:
                fail(f"TAXIICollectionSource.query(type=indicator) lacks {i['id']}: {found}")
        ok("objects pushed through stix2's TAXIICollectionSink read back equal with TAXIICollectionSource")

    def check_delete(self):
        object_id = f"malware--{uuid.uuid4()}"
        versions = ["2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z"]
        objects = [
            {
                "type": "malware",
                "spec_version": "2.1",
                "id": object_id,
                "created": versions[0],
                "modified": v,
                "name": f"delete check {v}",
                "is_family": False,
            }
            for v in versions
        ]
        status = self.collection.add_objects({"objects": objects})
        check_status("add_objects (three versions)", status, [(object_id, v) for v in versions])
        expect_eq("versions", self.collection.object_versions(object_id).get("versions"), versions)

        self.collection.delete_object(object_id, version="first")
        expect_eq("versions after deleting first", self.collection.object_versions(object_id).get("versions"), versions[1:])
        expect_http_error("get the deleted version", lambda: self.collection.get_object(object_id, version=versions[0]), 404)
        expect_eq("the latest is still served", self.collection.get_object(object_id)["objects"], [objects[2]])
        ok("delete_object(version=first) removes only the first version")

        # A raw DELETE: 200, the TAXII Content-Type, no body; every remaining version goes.
        response = requests.delete(f"{self.url}objects/{object_id}/", headers={"Accept": TAXII21})
        expect_eq("DELETE status", response.status_code, 200)
        expect_eq("DELETE Content-Type", response.headers.get("Content-Type"), TAXII21)
        expect_eq("DELETE body", response.content, b"")
        expect_http_error("get_object after delete", lambda: self.collection.get_object(object_id), 404)
        expect_http_error("object_versions after delete", lambda: self.collection.object_versions(object_id), 404)
        ids = {r["id"] for r in self.collection.get_manifest(version="all").get("objects", [])}
        if object_id in ids:
            fail(f"the manifest still lists {object_id}")
        expect_http_error("delete_object again", lambda: self.collection.delete_object(object_id), 404)
        ok("DELETE without match[version] removes every version: 200, TAXII Content-Type, no body; then 404")

        # The ATT&CK objects posted earlier are untouched.
        for object_id, obj in self.posted.items():
            expect_eq(f"{object_id} after the deletes", self.collection.get_object(object_id)["objects"], [obj])
        ok("the other objects are untouched")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    checks = Checks(sys.argv[1], sys.argv[2])
    names = [
        "check_collection",
        "check_add_objects",
        "check_mixed_envelope",
        "check_status_refresh",
        "check_stix2_sink_and_source",
        "check_delete",
    ]
    return run_checks(checks, names, "write")


if __name__ == "__main__":
    sys.exit(main())
