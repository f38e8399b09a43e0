#!/usr/bin/env python3
"""Test vectors for Samordna's access log (docs/spec/access-log-v1.md), made without the Rust code.

Writes two files next to this script (or into the directory given as the only argument):

merkle.json
    RFC 6962 tree heads, inclusion proofs and consistency proofs, computed with the recursive
    definitions of RFC 6962 section 2.1 exactly as written there (MTH, PATH, PROOF/SUBPROOF over
    lists D[k1:k2]). The Rust code uses a different, iterative algorithm; the tests compare them.
    Leaf sets:
      "rfc6962":   the 8 leaf inputs of certificate-transparency's test data, for sizes 1 to 8;
      "generated": leaf i is the ASCII text "samordna access-log test leaf <i>", for sizes 13, 64
                   and 1000.

entries.json
    Access-log entries encoded by an independent reading of the spec's section 2 (this file's
    encode_entry), with their leaf hashes and the roots of the first k entries.

Standard library only. Run: python3 core/tests/vectors/access-log/generate.py
The Rust test `vectors_regenerate_identically` runs it into a temporary directory and checks the
committed files are byte for byte what it writes.
"""

import calendar
import hashlib
import ipaddress
import json
import os
import struct
import sys


def sha256(data):
    return hashlib.sha256(data).digest()


# --- RFC 6962 section 2.1, literally -------------------------------------------------------------


def largest_power_of_two_below(n):
    """k such that k < n <= 2k (RFC 6962 2.1: "the largest power of two smaller than n")."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def MTH(D):
    n = len(D)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + D[0])
    k = largest_power_of_two_below(n)
    return sha256(b"\x01" + MTH(D[0:k]) + MTH(D[k:n]))


def PATH(m, D):
    n = len(D)
    if n == 1:
        assert m == 0
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return PATH(m, D[0:k]) + [MTH(D[k:n])]
    return PATH(m - k, D[k:n]) + [MTH(D[0:k])]


def SUBPROOF(m, D, b):
    n = len(D)
    if m == n:
        return [] if b else [MTH(D)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return SUBPROOF(m, D[0:k], b) + [MTH(D[k:n])]
    return SUBPROOF(m - k, D[k:n], False) + [MTH(D[0:k])]


def PROOF(m, D):
    return SUBPROOF(m, D, True)


# --- Leaf sets ----------------------------------------------------------------------------------

RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]

GENERATED_PATTERN = "samordna access-log test leaf {i}"


def generated_leaves(n):
    return [GENERATED_PATTERN.format(i=i).encode("ascii") for i in range(n)]


def tree_vector(leaf_set, D, indices, old_sizes):
    n = len(D)
    return {
        "leaf_set": leaf_set,
        "size": n,
        "root": MTH(D).hex(),
        "inclusion": [
            {"index": m, "leaf_hash": sha256(b"\x00" + D[m]).hex(), "path": [h.hex() for h in PATH(m, D)]}
            for m in indices
        ],
        "consistency": [
            {"old_size": m, "old_root": MTH(D[0:m]).hex(), "path": [h.hex() for h in PROOF(m, D)]}
            for m in old_sizes
        ],
    }


def merkle_vectors():
    trees = []
    for n in range(1, 9):
        D = RFC6962_LEAVES[:n]
        trees.append(tree_vector("rfc6962", D, range(n), range(1, n + 1)))
    for n in (13, 64):
        D = generated_leaves(n)
        trees.append(tree_vector("generated", D, range(n), range(1, n + 1)))
    D = generated_leaves(1000)
    sample = [0, 1, 2, 3, 7, 8, 100, 255, 256, 257, 500, 511, 512, 513, 767, 998, 999]
    trees.append(tree_vector("generated", D, sample, [m for m in sample if m > 0] + [1000]))
    return {
        "description": "RFC 6962 tree heads, inclusion proofs (PATH) and consistency proofs (PROOF) "
        "from the recursive definitions of RFC 6962 section 2.1. Hashes are lower-case hex.",
        "empty_root": MTH([]).hex(),
        "leaf_sets": {
            "rfc6962": [d.hex() for d in RFC6962_LEAVES],
            "generated": {"pattern": GENERATED_PATTERN, "encoding": "ascii"},
        },
        "trees": trees,
    }


# --- Entry encoding, docs/spec/access-log-v1.md section 2 ----------------------------------------


def enc_str(s):
    b = s.encode("utf-8")
    assert len(b) <= 64
    return struct.pack(">H", len(b)) + b


def enc_opt(value, encode):
    return b"\x00" if value is None else b"\x01" + encode(value)


def enc_object(o):
    return struct.pack(">B", o["kind"]) + enc_str(o["value"])


def enc_peer(p):
    ip = ipaddress.ip_address(p["ip"])
    family = 4 if ip.version == 4 else 6
    return struct.pack(">B", family) + ip.packed + struct.pack(">H", p["port"])


def encode_entry(e):
    decision = 1 if e["reason"] == 0 else 0
    return b"".join(
        [
            b"\x01",
            struct.pack(">Q", e["index"]),
            struct.pack(">q", e["at_us"]),
            enc_str(e["request_id"]),
            enc_opt(e["actor_principal"], enc_str),
            enc_opt(e["actor_user"], enc_str),
            enc_opt(e["cert_fingerprint"], bytes.fromhex),
            struct.pack(">H", e["action"]),
            struct.pack(">B", decision),
            struct.pack(">H", e["reason"]),
            enc_opt(e["case_id"], enc_str),
            enc_opt(e["consent_id"], enc_str),
            enc_opt(e["envelope_id"], enc_str),
            enc_opt(e["object"], enc_object),
            enc_opt(e["peer"], enc_peer),
        ]
    )


def micros(year, month, day, hour, minute, second, micro):
    return calendar.timegm((year, month, day, hour, minute, second)) * 1_000_000 + micro


EXAMPLE_FINGERPRINT = sha256(b"example client certificate").hex()

EXAMPLE_ENTRIES = [
    {
        "comment": "allowed: a person at a principal fetched an envelope under a consent",
        "index": 0,
        "at_us": micros(2026, 11, 23, 9, 30, 0, 123456),
        "request_id": "5f2c0a9d41e6b7c8d9e0f1a2",
        "actor_principal": "SE2321000032",
        "actor_user": "SE2321000032-abc1",
        "cert_fingerprint": EXAMPLE_FINGERPRINT,
        "action": 42,
        "reason": 0,
        "case_id": "S-01JDQ7Z5W6V8T9R0S1N2M3K4H5",
        "consent_id": "K-01JDQ7Z5W6V8T9R0S1N2M3K4H6",
        "envelope_id": "E-01JDQ7Z5W6V8T9R0S1N2M3K4H7",
        "object": None,
        "peer": {"ip": "192.0.2.10", "port": 50123},
    },
    {
        "comment": "refused: an upload with no consent covering the exchange, over IPv6",
        "index": 1,
        "at_us": micros(2026, 11, 23, 9, 31, 5, 0),
        "request_id": "a1b2c3d4e5f60718293a4b5c",
        "actor_principal": "SE2321000032",
        "actor_user": "SE2321000032-abc1",
        "cert_fingerprint": EXAMPLE_FINGERPRINT,
        "action": 40,
        "reason": 10,
        "case_id": "S-01JDQ7Z5W6V8T9R0S1N2M3K4H5",
        "consent_id": None,
        "envelope_id": "E-01JDQ7Z5W6V8T9R0S1N2M3K4H8",
        "object": {"kind": 3, "value": "duplicate"},
        "peer": {"ip": "2001:db8::7", "port": 443},
    },
    {
        "comment": "refused at the TLS handshake: a revoked certificate, identity as claimed",
        "index": 2,
        "at_us": micros(2026, 11, 23, 9, 32, 0, 999999),
        "request_id": "tls-00112233445566778899aabb",
        "actor_principal": "SE2321000032",
        "actor_user": "SE2321000032-x9",
        "cert_fingerprint": sha256(b"revoked client certificate").hex(),
        "action": 1,
        "reason": 3,
        "case_id": None,
        "consent_id": None,
        "envelope_id": None,
        "object": None,
        "peer": {"ip": "198.51.100.20", "port": 40000},
    },
    {
        "comment": "allowed: a principal read another principal's keys; no peer recorded",
        "index": 3,
        "at_us": micros(2026, 11, 23, 9, 33, 0, 1),
        "request_id": "ffeeddccbbaa998877665544",
        "actor_principal": "SE2321000032",
        "actor_user": "SE2321000032-abc1",
        "cert_fingerprint": EXAMPLE_FINGERPRINT,
        "action": 12,
        "reason": 0,
        "case_id": None,
        "consent_id": None,
        "envelope_id": None,
        "object": {"kind": 1, "value": "SE2120000142"},
        "peer": None,
    },
]


def entry_vectors():
    entries = []
    leaves = []
    for e in EXAMPLE_ENTRIES:
        data = encode_entry(e)
        leaves.append(data)
        entries.append(dict(e, encoding=data.hex(), leaf_hash=sha256(b"\x00" + data).hex()))
    return {
        "description": "Access-log entries (docs/spec/access-log-v1.md section 2) with their encoding, "
        "leaf hash, and the root of the first k entries. Action and reason are the stable codes "
        "of core/src/audit.rs; decision follows from the reason.",
        "entries": entries,
        "roots": [{"size": k, "root": MTH(leaves[:k]).hex()} for k in range(1, len(leaves) + 1)],
    }


def write(directory, name, value):
    text = json.dumps(value, indent=1, sort_keys=True) + "\n"
    with open(os.path.join(directory, name), "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    write(directory, "merkle.json", merkle_vectors())
    write(directory, "entries.json", entry_vectors())


if __name__ == "__main__":
    main()
