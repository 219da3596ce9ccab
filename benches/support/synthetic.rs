//! Synthetic but valid STIX 2.1 objects shaped like MITRE ATT&CK's, with several
//! versions each, for benchmarks at sizes the real bundles do not reach.
//!
//! Deterministic (a fixed-seed generator), so every run measures the same data. The
//! objects follow ATT&CK's mix of types (mostly `attack-pattern`, `relationship`,
//! `malware`, `tool`, `intrusion-set`, `course-of-action`), carry ATT&CK's custom
//! `x_mitre_*` properties and an external reference, and are about 1 KB each.
//!
//! Versions arrive the way ATT&CK releases bring them: every object's first version,
//! then the second version of those that have one, and so on, so an object's latest
//! version is far from its first in `date_added` order.

#![allow(dead_code)]

use bytes::Bytes;

/// The type of the `i`-th object, in ATT&CK's proportions (Enterprise 18.1: about half
/// relationships, a third attack patterns and the rest spread over the other types).
pub fn object_type(i: usize) -> &'static str {
    match i % 20 {
        0..=8 => "relationship",
        9..=14 => "attack-pattern",
        15 => "malware",
        16 => "tool",
        17 => "intrusion-set",
        18 => "course-of-action",
        _ => "x-mitre-data-component",
    }
}

/// How many versions the `i`-th object has: 1 to 4, two on average.
pub fn version_count(i: usize) -> usize {
    match mix(i as u64) % 8 {
        0..=2 => 1,
        3..=5 => 2,
        6 => 3,
        _ => 4,
    }
}

/// The id of the `i`-th object.
pub fn object_id(i: usize) -> String {
    let h = mix(i as u64 ^ 0x5eed);
    format!(
        "{}--{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        object_type(i),
        (h >> 32) as u32,
        (h >> 16) as u16,
        (h & 0xfff) as u16,
        (i >> 48) as u16 & 0xfff,
        i as u64 & 0xffff_ffff_ffff
    )
}

/// The `modified` of version `v` of the `i`-th object.
pub fn modified(i: usize, v: usize) -> String {
    let day = 1 + (i % 28);
    format!(
        "20{:02}-{:02}-{day:02}T12:{:02}:{:02}.{:03}Z",
        18 + v,
        1 + (i % 12),
        (i / 60) % 60,
        i % 60,
        i % 1000
    )
}

/// Version `v` of the `i`-th object as STIX 2.1 JSON.
pub fn object_json(i: usize, v: usize) -> String {
    let t = object_type(i);
    let id = object_id(i);
    let created = modified(i, 0);
    let modified = modified(i, v);
    let words = [
        "adversaries",
        "may",
        "abuse",
        "command",
        "and",
        "script",
        "interpreters",
        "to",
        "execute",
        "commands",
        "scripts",
        "or",
        "binaries",
        "these",
        "interfaces",
        "languages",
        "provide",
        "ways",
    ];
    let mut description = String::with_capacity(520);
    let mut h = mix((i * 7 + v) as u64);
    while description.len() < 480 {
        description.push_str(words[(h % words.len() as u64) as usize]);
        description.push(' ');
        h = mix(h);
    }
    let description = description.trim_end();
    let specific = match t {
        "relationship" => format!(
            r#""relationship_type":"uses","source_ref":"{}","target_ref":"{}""#,
            object_id(i + 5),
            object_id(i + 9)
        ),
        "malware" | "tool" => format!(r#""name":"Software {i}","is_family":true,"x_mitre_platforms":["Windows","Linux","macOS"]"#),
        _ => format!(
            r#""name":"Technique {i}","kill_chain_phases":[{{"kill_chain_name":"mitre-attack","phase_name":"execution"}}],"x_mitre_platforms":["Windows","Linux","macOS"],"x_mitre_domains":["enterprise-attack"]"#
        ),
    };
    format!(
        r#"{{"type":"{t}","spec_version":"2.1","id":"{id}","created":"{created}","modified":"{modified}","created_by_ref":"identity--c78cb6e5-0c4b-4611-8297-d1b8b55e40b5","revoked":false,"description":"{description}",{specific},"external_references":[{{"source_name":"mitre-attack","url":"https://attack.mitre.org/techniques/T{:04}","external_id":"T{:04}"}}],"object_marking_refs":["marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168"],"x_mitre_version":"{}.0","x_mitre_modified_by_ref":"identity--c78cb6e5-0c4b-4611-8297-d1b8b55e40b5","x_mitre_attack_spec_version":"3.2.0"}}"#,
        i % 10_000,
        i % 10_000,
        v + 1
    )
}

/// Every version of `objects` objects, in release order (all first versions, then
/// all second versions, ...), as the JSON a bundle would hold.
pub fn versions(objects: usize) -> impl Iterator<Item = Bytes> {
    let max = (0..objects).map(version_count).max().unwrap_or(0);
    (0..max).flat_map(move |v| {
        (0..objects)
            .filter(move |&i| version_count(i) > v)
            .map(move |i| Bytes::from(object_json(i, v)))
    })
}

/// A STIX bundle of those versions.
pub fn bundle(objects: usize) -> Vec<u8> {
    let mut out = br#"{"type":"bundle","id":"bundle--3e9c1e8e-7b9c-4f2a-9d55-0a6f3c1f2b11","objects":["#.to_vec();
    for (k, json) in versions(objects).enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&json);
    }
    out.extend_from_slice(b"]}");
    out
}

/// SplitMix64: a fixed, well-spread mixing of `x`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
