#!/usr/bin/env python3
"""Conformance check of a tower-taxii server with the real Python TAXII clients.

Usage: check_attack.py BASE_URL DATA_DIR

The server must have been started on the six ICS ATT&CK 2.1 releases (8.0, 10.0,
12.0, 15.0, 17.1, 18.1, in that order) plus mobile-attack-17.1.json. Every
expectation is computed from the bundle files, never from the server:

- each distinct (id, version, spec_version) is one stored version, version being
  `modified`, else `created`; the first occurrence wins;
- date_added order of the versions == the order in which they were first seen;
- the default query returns, per object, the version with the latest `modified`
  among those with the highest spec_version, ordered by date_added.

Two stored versions of one object can carry the same instant written differently
(ICS 8.0 has `2017-06-01T00:00:00Z`, later releases `2017-06-01T00:00:00.000Z`).
Which of those is "latest" is not specified, so for such ties either is accepted.

Prints one line per check and exits non-zero at the first mismatch.
"""

import json
import os
import re
import sys
from collections import Counter, defaultdict
from urllib.parse import urlparse

import requests
from stix2 import Filter, TAXIICollectionSource
from stix2.utils import parse_into_datetime
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Server, as_pages

from common import TAXII21, TIMESTAMP_RE, Mismatch, expect_eq, fail, ok, short

ICS_FILES = [
    "ics-attack-8.0.json",
    "ics-attack-10.0.json",
    "ics-attack-12.0.json",
    "ics-attack-15.0.json",
    "ics-attack-17.1.json",
    "ics-attack-18.1.json",
]
MOBILE_FILES = ["mobile-attack-17.1.json"]
ICS_ID = "x-mitre-collection--90c00720-636b-4485-b342-8751d232bf09"
MOBILE_ID = "x-mitre-collection--dac0d2d7-8653-445c-9bff-82f934c1e858"
STIX21 = "application/stix+json;version=2.1"
STIX_TS_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")


# --------------------------------------------------------------------------
# The expected model, from the bundle files only
# --------------------------------------------------------------------------


def ts_key(text):
    """Sort key of a STIX timestamp string that compares instants, not strings."""
    m = STIX_TS_RE.match(text)
    if not m:
        raise ValueError(f"not a STIX timestamp: {text!r}")
    return (m.group(1), int((m.group(2) or "").ljust(9, "0")))


def spec_key(spec):
    return tuple(int(part) for part in spec.split("."))


def version_of(obj):
    return obj.get("modified", obj.get("created"))


def spec_of(obj):
    return obj.get("spec_version", "2.0")


def key_of(obj):
    return (obj["id"], version_of(obj), spec_of(obj))


class Model:
    """The stored versions of one collection, in date_added order."""

    def __init__(self, collection_id, title, versions):
        self.collection_id = collection_id
        self.title = title
        self.versions = versions  # list of (key, obj), first-seen order
        self.pos = {key: i for i, (key, _) in enumerate(versions)}
        self.obj = dict(versions)
        self.by_id = defaultdict(list)  # id -> keys in date_added order
        for key, _ in versions:
            self.by_id[key[0]].append(key)

    def extreme_keys(self, obj_id, pick):
        """Keys of obj_id's versions at the highest spec_version whose modified
        is the pick (max or min) instant; several only on ties."""
        keys = self.by_id[obj_id]
        top_spec = max(spec_key(k[2]) for k in keys)
        keys = [k for k in keys if spec_key(k[2]) == top_spec]
        best = pick(ts_key(k[1]) for k in keys)
        return {k for k in keys if ts_key(k[1]) == best}

    def latest_keys(self, obj_id):
        return self.extreme_keys(obj_id, max)

    def first_keys(self, obj_id):
        return self.extreme_keys(obj_id, min)

    def has_tie(self, obj_id):
        stamps = [ts_key(k[1]) for k in self.by_id[obj_id]]
        return len(set(stamps)) != len(stamps)

    def ids(self, type_=None, ids=None):
        return {
            i
            for i in self.by_id
            if (type_ is None or i.split("--")[0] == type_) and (ids is None or i in ids)
        }

    def type_counts(self):
        return Counter(i.split("--")[0] for i in self.by_id)


def load_model(data_dir, files):
    versions = {}
    collection = None
    for name in files:
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            bundle = json.load(f)
        for obj in bundle["objects"]:
            versions.setdefault(key_of(obj), obj)
            if obj["type"] == "x-mitre-collection" and collection is None:
                collection = obj
    return Model(collection["id"], collection["name"], list(versions.items()))


# --------------------------------------------------------------------------
# Verifying a list of returned items against the model
# --------------------------------------------------------------------------


def check_latest_list(what, model, items, expected_ids, choices=None):
    """items: (key, obj-or-None) as returned. They must be exactly one
    acceptable version per expected id, in strictly increasing date_added order,
    and each object must equal the one in the bundle file."""
    choices = choices or model.latest_keys
    seen = set()
    last_pos = -1
    for n, (key, obj) in enumerate(items):
        obj_id = key[0]
        if obj_id not in expected_ids:
            fail(f"{what}: item {n} is {key}, which should not be in the result")
        if obj_id in seen:
            fail(f"{what}: item {n}: {obj_id} returned twice")
        seen.add(obj_id)
        if key not in choices(obj_id):
            fail(f"{what}: item {n}: {obj_id} has version {key[1]!r} (spec {key[2]}), "
                 f"expected one of {sorted(choices(obj_id))}")
        pos = model.pos[key]
        if pos <= last_pos:
            fail(f"{what}: item {n} ({key}) is out of date_added order "
                 f"(its load position {pos} <= previous {last_pos})")
        last_pos = pos
        if obj is not None and obj != model.obj[key]:
            fail(f"{what}: item {n} ({key}) differs from the bundle's object:\n"
                 f"  got      {short(obj)}\n  expected {short(model.obj[key])}")
    missing = expected_ids - seen
    if missing:
        fail(f"{what}: {len(missing)} expected objects missing, e.g. {sorted(missing)[:3]}")


def object_items(objects):
    return [(key_of(obj), obj) for obj in objects]


def manifest_items(records):
    return [((r["id"], r["version"], spec_from_media_type(r)), None) for r in records]


def spec_from_media_type(record):
    media_type = record.get("media_type", "")
    m = re.search(r"version=([0-9.]+)", media_type)
    return m.group(1) if m else "2.1"


def collect_pages(what, func, per_request, **filters):
    """All items of a paged endpoint through taxii2client's as_pages, checking
    each page: at most per_request items, and `next` whenever `more`."""
    items = []
    pages = 0
    for page in as_pages(func, per_request=per_request, **filters):
        pages += 1
        got = page.get("objects", [])
        if len(got) > per_request:
            fail(f"{what}: page {pages} has {len(got)} items, more than limit={per_request}")
        if "objects" in page and not got:
            fail(f"{what}: page {pages} has an empty 'objects' list (lists must be non-empty)")
        if page.get("more") and not page.get("next"):
            fail(f"{what}: page {pages} says more=true without a 'next' "
                 f"(taxii2client would refetch page 1 forever)")
        items.extend(got)
        if pages > 10_000:
            fail(f"{what}: more than 10000 pages, the server never ends the paging")
    return items, pages


# --------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------


def check_discovery(base_url):
    server = Server(base_url.rstrip("/") + "/taxii2/")
    if not server.title:
        fail("discovery: no title")
    roots = [r.url for r in server.api_roots]
    if not any(urlparse(url).path == "/api/v21/" for url in roots):
        fail(f"discovery: api_roots {roots} have none at path /api/v21/")
    default = server.default
    if default is None or urlparse(default.url).path != "/api/v21/":
        raw = server._raw.get("default")
        fail(f"discovery: default {raw!r} is not the /api/v21/ entry of api_roots {roots}")
    ok(f"discovery: title {server.title!r}, api_roots {roots}, default {default.url}")
    return default


def check_api_root(root):
    if TAXII21 not in root.versions:
        fail(f"api root: versions {root.versions} lack {TAXII21}")
    mcl = root.max_content_length
    if not isinstance(mcl, int) or isinstance(mcl, bool) or mcl <= 0:
        fail(f"api root: max_content_length {mcl!r} is not an integer > 0")
    ok(f"api root: title {root.title!r}, versions {root.versions}, max_content_length {mcl}")


def check_collections(root, models):
    found = {c.id: c for c in root.collections}
    for model in models:
        coll = found.get(model.collection_id)
        if coll is None:
            fail(f"collections: {model.collection_id} missing; got {sorted(found)}")
        expect_eq(f"collection {model.collection_id} title", coll.title, model.title)
        if coll.can_read is not True:
            fail(f"collection {model.collection_id}: can_read is {coll.can_read!r}")
    ok(f"collections: {len(found)} listed, " +
       ", ".join(f"{m.title!r} = {m.collection_id}" for m in models))
    return [found[m.collection_id] for m in models]


def check_all_objects(coll, model, per_request):
    what = f"{model.title}: get_objects as_pages per_request={per_request}"
    objects, pages = collect_pages(what, coll.get_objects, per_request)
    check_latest_list(what, model, object_items(objects), model.ids())
    ok(f"{what}: {len(objects)} latest versions in {pages} pages, objects byte-equal")
    return objects


def check_type_counts(coll, model):
    counts = {}
    for type_, want in sorted(model.type_counts().items()):
        what = f"{model.title}: get_objects type={type_}"
        objects, _ = collect_pages(what, coll.get_objects, 1000, type=type_)
        check_latest_list(what, model, object_items(objects), model.ids(type_=type_))
        counts[type_] = len(objects)
        expect_eq(what + " count", len(objects), want)
    ok(f"{model.title}: per-type counts of latest versions {counts}")


def multi_version_ids(model, counts, per_count=1):
    """Ids with the given numbers of versions (those that occur) and no
    timestamp ties between their versions."""
    picked = []
    for n in counts:
        ids = [i for i, keys in model.by_id.items() if len(keys) == n and not model.has_tie(i)]
        picked.extend(ids[:per_count])
    if not picked:
        fail(f"model: no object with {counts} versions in {model.title}")
    return picked


def single_envelope_object(what, envelope):
    objects = envelope.get("objects", [])
    if len(objects) != 1:
        fail(f"{what}: expected exactly 1 object, got {len(objects)}: {short(envelope)}")
    return objects[0]


def check_get_object(coll, model):
    ids = multi_version_ids(model, [6, 5, 4, 3, 2, 1])
    for obj_id in ids:
        keys = model.by_id[obj_id]
        (latest,) = model.latest_keys(obj_id)
        (first,) = model.first_keys(obj_id)
        got = single_envelope_object(f"get_object({obj_id})", coll.get_object(obj_id))
        expect_eq(f"get_object({obj_id}) default = latest", got, model.obj[latest])
        got = single_envelope_object(f"get_object({obj_id}, version=first)",
                                     coll.get_object(obj_id, version="first"))
        expect_eq(f"get_object({obj_id}, version=first)", got, model.obj[first])
        middle = keys[len(keys) // 2]
        got = single_envelope_object(f"get_object({obj_id}, version={middle[1]})",
                                     coll.get_object(obj_id, version=middle[1]))
        expect_eq(f"get_object({obj_id}, version={middle[1]})", got, model.obj[middle])
        envelope = coll.get_object(obj_id, version="all")
        expect_eq(f"get_object({obj_id}, version=all)", envelope.get("objects"),
                  [model.obj[k] for k in keys])
        if envelope.get("more"):
            fail(f"get_object({obj_id}, version=all): more=true for {len(keys)} versions")
    counts = sorted({len(model.by_id[i]) for i in ids}, reverse=True)
    ok(f"{model.title}: get_object default/first/<timestamp>/all for {len(ids)} objects "
       f"with {counts} versions")


def check_object_versions(coll, model):
    ids = multi_version_ids(model, [1, 2, 3, 4, 5, 6], per_count=3)
    ids += [i for i in model.by_id if model.has_tie(i)]
    for obj_id in ids:
        want = [k[1] for k in model.by_id[obj_id]]
        envelope = coll.object_versions(obj_id)
        expect_eq(f"object_versions({obj_id})", envelope.get("versions"), want)
        if envelope.get("more"):
            fail(f"object_versions({obj_id}): more=true for {len(want)} versions")
    counts = sorted({len(model.by_id[i]) for i in ids})
    ok(f"{model.title}: object_versions for {len(ids)} objects with {counts} versions")


def check_manifest(coll, model):
    what = f"{model.title}: get_manifest as_pages per_request=500"
    records, pages = collect_pages(what, coll.get_manifest, 500)
    for n, rec in enumerate(records):
        if not TIMESTAMP_RE.match(rec.get("date_added", "")):
            fail(f"{what}: record {n} date_added {rec.get('date_added')!r} is not "
                 "YYYY-MM-DDTHH:MM:SS.ssssssZ")
        if rec.get("media_type") != STIX21:
            fail(f"{what}: record {n} media_type {rec.get('media_type')!r}, expected {STIX21}")
    stamps = [rec["date_added"] for rec in records]
    for n in range(1, len(stamps)):
        if stamps[n] <= stamps[n - 1]:
            fail(f"{what}: date_added not strictly increasing at record {n}: "
                 f"{stamps[n - 1]} then {stamps[n]}")
    check_latest_list(what, model, manifest_items(records), model.ids())
    ok(f"{what}: {len(records)} records in {pages} pages, ids/versions/order as expected")
    return records


def added_after_agrees(model, latest_list, k):
    """True when both readings of added_after + default `last` (latest over the
    collection, then added_after; or added_after, then latest of what is left)
    give the same result at boundary k."""
    boundary = model.pos[latest_list[k]]
    after_latest = {key for key in latest_list[k + 1:]}
    left = defaultdict(list)
    for key, _ in model.versions[boundary + 1:]:
        left[key[0]].append(key)
    for obj_id, keys in left.items():
        best = max(ts_key(key[1]) for key in keys)
        tops = {key for key in keys if ts_key(key[1]) == best}
        if not tops & after_latest:
            return False
    return len(left) == len(after_latest)


def check_added_after(coll, model, objects, records):
    latest_list = [key_of(o) for o in objects]
    expect_eq(f"{model.title}: manifest (id, version) list vs get_objects",
              [(r["id"], r["version"]) for r in records], [k[:2] for k in latest_list])
    k = len(records) // 2
    while not added_after_agrees(model, latest_list, k):
        k += 1
        if k >= len(records) - 1:
            fail(f"{model.title}: no unambiguous added_after boundary in the second half")
    boundary = records[k]["date_added"]
    what = f"{model.title}: get_objects added_after={boundary} (manifest record {k})"
    got, _ = collect_pages(what, coll.get_objects, 1000, added_after=boundary)
    expect_eq(what, [key_of(o) for o in got], latest_list[k + 1:])
    what = f"{model.title}: get_manifest added_after={boundary}"
    got, _ = collect_pages(what, coll.get_manifest, 1000, added_after=boundary)
    expect_eq(what, [(r["id"], r["version"]) for r in got],
              [(r["id"], r["version"]) for r in records[k + 1:]])
    ok(f"{model.title}: added_after record {k}'s date_added gives exactly the "
       f"{len(latest_list) - k - 1} later items (objects and manifest)")


def check_filters(coll, model, foreign_id):
    what = f"{model.title}: get_objects type=attack-pattern as_pages per_request=25"
    objects, _ = collect_pages(what, coll.get_objects, 25, type="attack-pattern")
    check_latest_list(what, model, object_items(objects), model.ids(type_="attack-pattern"))
    ok(f"{what}: {len(objects)} objects")

    ids = multi_version_ids(model, [1, 3, 6]) + [model.collection_id, foreign_id]
    ids = list(dict.fromkeys(ids))  # no repeated values in one match[] field
    what = f"{model.title}: get_objects id={','.join(ids)}"
    objects, _ = collect_pages(what, coll.get_objects, 1000, id=ids)
    check_latest_list(what, model, object_items(objects), model.ids(ids=set(ids)))
    ok(f"{model.title}: get_objects id= {len(ids)} ids (one from another collection) "
       f"gives {len(objects)} objects")


def stix_versions(objs):
    return sorted((o["id"], parse_into_datetime(o["modified"])) for o in objs)


def model_versions(model, keys):
    return sorted((k[0], parse_into_datetime(k[1])) for k in keys)


def latest_key(model, obj_id):
    return sorted(model.latest_keys(obj_id), key=model.pos.get)[-1]


def check_stix2_source(coll, model):
    src = TAXIICollectionSource(coll)

    got = src.query([Filter("type", "=", "attack-pattern")])
    want = [latest_key(model, i) for i in model.ids(type_="attack-pattern")]
    expect_eq("stix2 query type=attack-pattern", stix_versions(got), model_versions(model, want))
    ok(f"{model.title}: stix2 query(type=attack-pattern) gives the {len(got)} latest versions")

    for obj_id in multi_version_ids(model, [6, 3, 1]):
        obj = src.get(obj_id)
        if obj is None:
            fail(f"stix2 get({obj_id}) returned None")
        expect_eq(f"stix2 get({obj_id})", stix_versions([obj]),
                  model_versions(model, [latest_key(model, obj_id)]))
        got = src.all_versions(obj_id)
        expect_eq(f"stix2 all_versions({obj_id})", stix_versions(got),
                  model_versions(model, model.by_id[obj_id]))
    ok(f"{model.title}: stix2 get(id) = latest and all_versions(id) = every version")

    got = src.query([Filter("type", "=", "attack-pattern"),
                     Filter("x_mitre_deprecated", "=", True)])
    want = [k for k in want if model.obj[k].get("x_mitre_deprecated") is True]
    expect_eq("stix2 query type=attack-pattern, x_mitre_deprecated=True",
              stix_versions(got), model_versions(model, want))
    ok(f"{model.title}: stix2 query(type=attack-pattern, x_mitre_deprecated=True) "
       f"gives {len(got)} objects")


def check_collection(coll, model, foreign_id):
    objects = check_all_objects(coll, model, 100)
    check_all_objects(coll, model, 1000)
    check_type_counts(coll, model)
    check_get_object(coll, model)
    check_object_versions(coll, model)
    records = check_manifest(coll, model)
    check_added_after(coll, model, objects, records)
    check_filters(coll, model, foreign_id)
    check_stix2_source(coll, model)


def main(argv):
    if len(argv) != 3:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    base_url, data_dir = argv[1], argv[2]
    ics = load_model(data_dir, ICS_FILES)
    mobile = load_model(data_dir, MOBILE_FILES)
    expect_eq("model: ICS collection id", ics.collection_id, ICS_ID)
    expect_eq("model: Mobile collection id", mobile.collection_id, MOBILE_ID)
    print(f"model: ICS {len(ics.by_id)} objects / {len(ics.versions)} versions, "
          f"Mobile {len(mobile.by_id)} objects / {len(mobile.versions)} versions", flush=True)
    try:
        root = check_discovery(base_url)
        check_api_root(root)
        ics_coll, mobile_coll = check_collections(root, [ics, mobile])
        check_collection(ics_coll, ics, MOBILE_ID)
        check_collection(mobile_coll, mobile, ICS_ID)
    except Mismatch as e:
        print(f"FAIL {e}", file=sys.stderr, flush=True)
        return 1
    except requests.exceptions.HTTPError as e:
        req, resp = e.request, e.response
        print(f"FAIL HTTP {resp.status_code} for {req.method} {req.url}: {resp.text[:1000]}",
              file=sys.stderr, flush=True)
        return 1
    except TAXIIServiceException as e:
        print(f"FAIL taxii2client rejected a response: {e}", file=sys.stderr, flush=True)
        return 1
    print("all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
