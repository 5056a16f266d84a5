#!/usr/bin/env python3
"""Independent verifier for the audit-log format, version 1.

Written from docs/FORMAT.md alone (no knowledge of the Rust implementation), using only the
Python 3.11 standard library.

Usage:
    independent_verifier.py --key KEYRING [--witness FILE] [--no-file-headers]
                            [--reserialized] PATH...
    independent_verifier.py --batch JOBS_FILE
    independent_verifier.py --self-test [--format-md FORMAT.md]

PATH is one or more log files in chain order, or a single directory (section 7.2).
Output: one line per finding, `KIND file:line seq N: message`, then `VERDICT <NAME>`.
Exit codes (section 9): OK 0, TAMPERED 1, usage/I-O error 2, INCOMPLETE_TAIL 3,
TRUNCATED 4, ROLLED_BACK 5, UNKNOWN_KEY 6.

Batch mode (many verifications in one process, for tests): JOBS_FILE (or `-` for stdin)
holds one JSON object per line,
    {"id": ANY, "key": KEYRING, "paths": [PATH, ...], "witness": FILE or null,
     "no_file_headers": BOOL, "reserialized": BOOL}
and stdout gets one JSON object per job, in order,
    {"id": ANY, "exit": CODE, "verdict": NAME, "findings": [LINE, ...], "error": MSG or null}
where `exit`, `verdict` and `findings` are what the single-run mode would exit with and
print (`verdict` is "ERROR" for exit code 2). The batch itself exits 0 unless JOBS_FILE is
unreadable or a job line is not a JSON object (exit 2).

Choices made where FORMAT.md is silent or ambiguous are marked "AMBIGUITY" below.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------------------------
# Section 2: strict parser and canonical serializer
# --------------------------------------------------------------------------------------------

MAX_SAFE_INT = 2**53 - 1
MAX_DEPTH = 64  # section 2: the outermost object/array is level 1; 64 nested OK, 65 not.


class ParseError(ValueError):
    pass


_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_WS = frozenset(" \t\n\r")
_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


class _Parser:
    """Hand-written RFC 8259 parser with the restrictions of FORMAT.md section 2.

    JSON values map to: null->None, true/false->bool, integer->int, string->str,
    array->list, object->dict (insertion ordered, unique keys).
    """

    __slots__ = ("s", "i", "n")

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.n = len(text)

    def _ws(self) -> None:
        s, n = self.s, self.n
        i = self.i
        while i < n and s[i] in _WS:
            i += 1
        self.i = i

    def parse(self) -> Any:
        self._ws()
        value = self._value(0)
        self._ws()
        if self.i != self.n:
            raise ParseError(f"trailing data at offset {self.i}")
        return value

    def _value(self, depth: int) -> Any:
        if self.i >= self.n:
            raise ParseError("unexpected end of input")
        c = self.s[self.i]
        if c == "{":
            return self._object(depth + 1)
        if c == "[":
            return self._array(depth + 1)
        if c == '"':
            return self._string()
        if c == "-" or c in _DIGITS:
            return self._number()
        for word, val in (("true", True), ("false", False), ("null", None)):
            if self.s.startswith(word, self.i):
                self.i += len(word)
                return val
        raise ParseError(f"unexpected character {c!r} at offset {self.i}")

    def _object(self, depth: int) -> dict:
        if depth > MAX_DEPTH:
            raise ParseError(f"nesting deeper than {MAX_DEPTH}")
        self.i += 1  # '{'
        obj: dict = {}
        self._ws()
        if self.i < self.n and self.s[self.i] == "}":
            self.i += 1
            return obj
        while True:
            self._ws()
            if self.i >= self.n or self.s[self.i] != '"':
                raise ParseError(f"expected a string key at offset {self.i}")
            key = self._string()
            if key in obj:
                raise ParseError(f"duplicate key {key!r}")
            self._ws()
            if self.i >= self.n or self.s[self.i] != ":":
                raise ParseError(f"expected ':' at offset {self.i}")
            self.i += 1
            self._ws()
            obj[key] = self._value(depth)
            self._ws()
            if self.i >= self.n:
                raise ParseError("unterminated object")
            c = self.s[self.i]
            self.i += 1
            if c == ",":
                continue
            if c == "}":
                return obj
            raise ParseError(f"expected ',' or '}}' at offset {self.i - 1}")

    def _array(self, depth: int) -> list:
        if depth > MAX_DEPTH:
            raise ParseError(f"nesting deeper than {MAX_DEPTH}")
        self.i += 1  # '['
        arr: list = []
        self._ws()
        if self.i < self.n and self.s[self.i] == "]":
            self.i += 1
            return arr
        while True:
            self._ws()
            arr.append(self._value(depth))
            self._ws()
            if self.i >= self.n:
                raise ParseError("unterminated array")
            c = self.s[self.i]
            self.i += 1
            if c == ",":
                continue
            if c == "]":
                return arr
            raise ParseError(f"expected ',' or ']' at offset {self.i - 1}")

    def _number(self) -> int:
        s, n = self.s, self.n
        start = self.i
        i = start
        if s[i] == "-":
            i += 1
        if i >= n or s[i] not in _DIGITS:
            raise ParseError(f"invalid number at offset {start}")
        if s[i] == "0":
            i += 1
            if i < n and s[i] in _DIGITS:
                raise ParseError(f"number with a leading zero at offset {start}")
        else:
            while i < n and s[i] in _DIGITS:
                i += 1
        if i < n and s[i] in ".eE":
            raise ParseError(f"number with a fraction or exponent at offset {start}")
        text = s[start:i]
        self.i = i
        if text == "-0":
            raise ParseError("-0 is not allowed")
        digits = text.lstrip("-")
        if len(digits) > 16:  # avoid huge int() conversions; 2^53-1 has 16 digits
            raise ParseError(f"integer out of range: {text[:40]}")
        value = int(text)
        if value > MAX_SAFE_INT or value < -MAX_SAFE_INT:
            raise ParseError(f"integer out of range: {text}")
        return value

    def _hex4(self, at: int) -> int:
        chunk = self.s[at:at + 4]
        if len(chunk) != 4 or any(ch not in _HEX for ch in chunk):
            raise ParseError(f"invalid \\u escape at offset {at - 2}")
        return int(chunk, 16)

    def _string(self) -> str:
        s, n = self.s, self.n
        i = self.i + 1  # skip opening quote
        out: list[str] = []
        while True:
            if i >= n:
                raise ParseError("unterminated string")
            c = s[i]
            if c == '"':
                self.i = i + 1
                return "".join(out)
            if c == "\\":
                if i + 1 >= n:
                    raise ParseError("unterminated escape")
                e = s[i + 1]
                if e in _SIMPLE_ESCAPES:
                    out.append(_SIMPLE_ESCAPES[e])
                    i += 2
                    continue
                if e != "u":
                    raise ParseError(f"invalid escape \\{e} at offset {i}")
                cp = self._hex4(i + 2)
                i += 6
                if 0xD800 <= cp <= 0xDBFF:
                    if s.startswith("\\u", i):
                        lo = self._hex4(i + 2)
                        if 0xDC00 <= lo <= 0xDFFF:
                            out.append(chr(0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)))
                            i += 6
                            continue
                    raise ParseError("\\u escape forms a lone high surrogate")
                if 0xDC00 <= cp <= 0xDFFF:
                    raise ParseError("\\u escape forms a lone low surrogate")
                out.append(chr(cp))
                continue
            o = ord(c)
            if o < 0x20:
                raise ParseError(f"raw control character U+{o:04X} in a string")
            if 0xD800 <= o <= 0xDFFF:  # cannot come from strict UTF-8 decoding; be safe
                raise ParseError("lone surrogate in a string")
            out.append(c)
            i += 1


def strict_parse(data: bytes | str) -> Any:
    """Parse one JSON text strictly (section 2). Raises ParseError."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise ParseError(f"invalid UTF-8 ({exc.reason} at byte {exc.start})") from None
    else:
        text = data
    return _Parser(text).parse()


def _escape_string(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20:
            if ch == "\b":
                out.append("\\b")
            elif ch == "\t":
                out.append("\\t")
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\f":
                out.append("\\f")
            elif ch == "\r":
                out.append("\\r")
            else:
                out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _utf16_key(k: str) -> bytes:
    # Big-endian UTF-16: bytewise order == order of sequences of UTF-16 code units.
    return k.encode("utf-16-be")


def canonical(value: Any) -> str:
    """Canonical JSON (RFC 8785 as restricted by section 2) as a str."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if value > MAX_SAFE_INT or value < -MAX_SAFE_INT:
            raise ValueError("integer out of range")
        return str(value)
    if isinstance(value, str):
        return _escape_string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: _utf16_key(kv[0]))
        return "{" + ",".join(_escape_string(k) + ":" + canonical(v) for k, v in items) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def canonical_bytes(value: Any) -> bytes:
    return canonical(value).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Section 5: keys
# --------------------------------------------------------------------------------------------

EVOLVE_LABEL = b"audit-log/v1/evolve"
MAC_LABEL = b"audit-log/v1/mac"
KID_RE = re.compile(r"\A[A-Za-z0-9._-]{1,64}\Z")
CHAIN_RE = re.compile(r"\A[0-9a-zA-Z_-]{1,64}\Z")
LOWHEX64_RE = re.compile(r"\A[0-9a-f]{64}\Z")
HEX_RE = re.compile(r"\A(?:[0-9a-fA-F]{2})+\Z")
DEC_RE = re.compile(r"\A[0-9]+\Z")
ZERO_MAC = "0" * 64


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.digest(key, msg, "sha256")


class EpochTooFar(Exception):
    pass


class VerificationKey:
    """A verification key: kid, K[0], L. Derives K[e] and M[e] lazily."""

    STRIDE = 256

    def __init__(self, kid: str, epoch_len: int, k0: bytes) -> None:
        self.kid = kid
        self.epoch_len = epoch_len
        self.k0 = k0
        self._saved: dict[int, bytes] = {0: k0}  # K[e] for e multiple of STRIDE
        self._top_e = 0
        self._top_k = k0
        self._mcache: dict[int, bytes] = {}
        self.epoch_cap: int | None = None

    def epoch(self, seq: int) -> int:
        return seq // self.epoch_len

    def k(self, e: int) -> bytes:
        if e < 0:
            raise EpochTooFar(f"negative epoch {e}")
        if self.epoch_cap is not None and e > self.epoch_cap:
            raise EpochTooFar(f"epoch {e} is implausibly far (limit {self.epoch_cap})")
        if e == self._top_e:
            return self._top_k
        if e > self._top_e:
            ce, ck = self._top_e, self._top_k
            while ce < e:
                ck = _hmac(ck, EVOLVE_LABEL)
                ce += 1
                if ce % self.STRIDE == 0:
                    self._saved[ce] = ck
            self._top_e, self._top_k = ce, ck
            return ck
        base = (e // self.STRIDE) * self.STRIDE
        ck = self._saved[base]
        for _ in range(e - base):
            ck = _hmac(ck, EVOLVE_LABEL)
        return ck

    def m(self, e: int) -> bytes:
        mk = self._mcache.get(e)
        if mk is None:
            mk = _hmac(self.k(e), MAC_LABEL)
            if len(self._mcache) > 64:
                self._mcache.clear()
            self._mcache[e] = mk
        return mk


class KeyringError(Exception):
    pass


def parse_verification_key(line: str) -> VerificationKey:
    parts = line.split(":")
    if len(parts) != 4 or parts[0] != "audit-vk-v1":
        raise KeyringError("not of the form audit-vk-v1:<kid>:<L>:<hex>")
    _, kid, l_text, hex_text = parts
    if not KID_RE.match(kid):
        raise KeyringError(f"invalid kid {kid!r}")
    # AMBIGUITY: "<L> is decimal" -- we accept only ASCII digits (no sign, no spaces).
    if not DEC_RE.match(l_text) or len(l_text) > 20:
        raise KeyringError(f"invalid epoch length {l_text!r}")
    epoch_len = int(l_text)
    if not 1 <= epoch_len <= 2**32:
        raise KeyringError(f"epoch length {epoch_len} outside 1..2^32")
    if not HEX_RE.match(hex_text):
        raise KeyringError("key material is not hex")
    k0 = bytes.fromhex(hex_text)
    if len(k0) < 32:
        raise KeyringError("K[0] shorter than 32 bytes")
    return VerificationKey(kid, epoch_len, k0)


def parse_keyring(text: str) -> dict[str, VerificationKey]:
    ring: dict[str, VerificationKey] = {}
    for no, raw in enumerate(text.split("\n"), 1):
        # AMBIGUITY: surrounding whitespace (and a CR of CRLF files) is stripped; a line of
        # only whitespace counts as blank.
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            key = parse_verification_key(line)
        except KeyringError as exc:
            raise KeyringError(f"keyring line {no}: {exc}") from None
        old = ring.get(key.kid)
        if old is not None:
            # AMBIGUITY: a kid listed twice. Identical entries are tolerated; conflicting
            # ones are a usage error.
            if old.epoch_len != key.epoch_len or old.k0 != key.k0:
                raise KeyringError(f"keyring line {no}: kid {key.kid!r} listed twice with different keys")
            continue
        ring[key.kid] = key
    return ring


# --------------------------------------------------------------------------------------------
# Sections 4, 6, 7, 8, 9: verification
# --------------------------------------------------------------------------------------------

SEVERITY = {
    "OK": 0,
    "INCOMPLETE_TAIL": 1,
    "UNKNOWN_KEY": 2,
    "TRUNCATED": 3,
    "ROLLED_BACK": 4,
    "TAMPERED": 5,
}
EXIT_CODES = {
    "OK": 0,
    "TAMPERED": 1,
    "INCOMPLETE_TAIL": 3,
    "TRUNCATED": 4,
    "ROLLED_BACK": 5,
    "UNKNOWN_KEY": 6,
}
NOTE_KINDS = {"RECOVERED"}

AUDIT_MEMBERS = {"v", "chain", "seq", "kid", "prev", "mac"}
CHECKPOINT_MEMBERS = {"chain", "count", "epoch", "head", "kid", "seq", "v"}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass
class Finding:
    kind: str
    file: str
    line: int
    seq: int | None
    message: str

    def render(self) -> str:
        seq = "?" if self.seq is None else str(self.seq)
        return f"{self.kind} {self.file}:{self.line} seq {seq}: {self.message}"


@dataclass
class Analyzed:
    """A line after steps 2-3: either a sealed record or the reason it is bad."""

    record: dict | None = None
    error: str | None = None
    seq: int | None = None
    claimed_mac: str | None = None  # of a parsed but unsealed record, to continue the chain


def record_mac_input(record: dict) -> bytes:
    audit = dict(record["audit"])
    del audit["mac"]
    copy = dict(record)
    copy["audit"] = audit
    return canonical_bytes(copy)


def _get_path(obj: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(obj, dict) or p not in obj:
            return None
        obj = obj[p]
    return obj


@dataclass
class Verifier:
    keyring: dict[str, VerificationKey]
    file_headers: bool = True
    reserialized: bool = False
    findings: list[Finding] = field(default_factory=list)
    # chain state
    chain_id: str | None = None
    prev_seq: int | None = None
    prev_mac: str | None = None
    last_seq: int | None = None
    sealed_count: int = 0
    # MACs of the verified records of this log's chain, by seq (for checkpoints)
    verified_heads: dict[int, list[str]] = field(default_factory=dict)
    chains_seen: set[str] = field(default_factory=set)

    def add(self, kind: str, file: str, line: int, seq: int | None, message: str) -> None:
        self.findings.append(Finding(kind, file, line, seq, message))

    # ---- steps 2 and 3 ----
    def analyze(self, line: bytes) -> Analyzed:
        try:
            value = strict_parse(line)
        except ParseError as exc:
            return Analyzed(error=f"not strict JSON: {exc}")
        if not self.reserialized:
            try:
                canon = canonical_bytes(value)
            except (ValueError, TypeError) as exc:  # pragma: no cover - parser prevents it
                return Analyzed(error=f"cannot canonicalise: {exc}")
            if canon != line:
                return Analyzed(error="line is not in canonical form")
        if not isinstance(value, dict):
            return Analyzed(error="line is not a JSON object")
        seq = _get_path(value, "audit", "seq")
        seq = seq if _is_int(seq) and seq >= 0 else None
        claimed = _get_path(value, "audit", "mac")
        claimed = claimed if isinstance(claimed, str) and LOWHEX64_RE.match(claimed) else None
        audit = value.get("audit")
        if not isinstance(audit, dict):
            return Analyzed(error="unsealed: no audit object", seq=seq)
        r = self._check_audit(value, audit, seq)
        if r.error is not None and seq is not None and claimed is not None:
            r.claimed_mac = claimed
        return r

    def _check_audit(self, value: dict, audit: dict, seq: int | None) -> Analyzed:
        keys = set(audit)
        if keys != AUDIT_MEMBERS:
            missing = sorted(AUDIT_MEMBERS - keys)
            extra = sorted(keys - AUDIT_MEMBERS)
            return Analyzed(error=f"unsealed: audit members missing {missing} / unexpected {extra}", seq=seq)
        if not _is_int(audit["v"]) or audit["v"] != 1:
            return Analyzed(error=f"audit.v is not 1: {audit['v']!r}", seq=seq)
        if not isinstance(audit["chain"], str) or not CHAIN_RE.match(audit["chain"]):
            return Analyzed(error="audit.chain is not a valid chain id", seq=seq)
        if not _is_int(audit["seq"]) or audit["seq"] < 0:
            # section 4: a negative seq makes the record unsealed (step 3)
            return Analyzed(error="audit.seq is not a non-negative integer", seq=None)
        if not isinstance(audit["kid"], str) or not KID_RE.match(audit["kid"]):
            return Analyzed(error="audit.kid is not a valid key id", seq=seq)
        if not isinstance(audit["prev"], str) or not LOWHEX64_RE.match(audit["prev"]):
            return Analyzed(error="audit.prev is not 64 lowercase hex digits", seq=seq)
        if not isinstance(audit["mac"], str) or not LOWHEX64_RE.match(audit["mac"]):
            return Analyzed(error="audit.mac is not 64 lowercase hex digits", seq=seq)
        return Analyzed(record=value, seq=seq)

    # ---- step 4 ----
    def mac_status(self, record: dict) -> tuple[str, str]:
        """Returns ("ok"|"unknown"|"bad", message)."""
        audit = record["audit"]
        key = self.keyring.get(audit["kid"])
        if key is None:
            return "unknown", f"key {audit['kid']!r} is not in the keyring; MAC not checked"
        try:
            mk = key.m(key.epoch(audit["seq"]))
        except EpochTooFar as exc:
            return "bad", f"cannot derive the MAC key: {exc}"
        expected = _hmac(mk, record_mac_input(record)).hex()
        if hmac.compare_digest(expected.encode("ascii"), audit["mac"].encode("ascii")):
            return "ok", ""
        return "bad", "MAC does not verify"

    def is_matching_recovery(self, nxt: Analyzed, bad_line: bytes) -> bool:
        """Section 7.3: is `nxt` an audit.log.recovered record documenting `bad_line`?

        AMBIGUITY: 7.3 says "the recovery record itself must verify like any other". We read
        it as: the excuse depends on the recovery record being a sealed record (steps 2-3)
        whose action and two fields match (all covered by its MAC); the recovery record is
        then checked like every record, so a bad MAC is still TAMPERED and an unknown kid
        still UNKNOWN_KEY (never OK, section 9.2).
        """
        rec = nxt.record
        if rec is None:
            return False
        if _get_path(rec, "event", "action") != "audit.log.recovered":
            return False
        torn_bytes = _get_path(rec, "fields", "torn_bytes")
        torn_sha = _get_path(rec, "fields", "torn_sha256")
        if not _is_int(torn_bytes) or torn_bytes != len(bad_line):
            return False
        return isinstance(torn_sha, str) and torn_sha == hashlib.sha256(bad_line).hexdigest()

    # ---- steps 4, 5, 6 for a sealed record ----
    def process_record(self, rec: dict, file: str, lineno: int, basename: str) -> None:
        audit = rec["audit"]
        seq, mac, prev, chain = audit["seq"], audit["mac"], audit["prev"], audit["chain"]
        self.sealed_count += 1
        self.chains_seen.add(chain)

        status, msg = self.mac_status(rec)
        if status == "unknown":
            self.add("UNKNOWN_KEY", file, lineno, seq, msg)
        elif status == "bad":
            self.add("TAMPERED", file, lineno, seq, msg)

        # step 5: chain
        if self.chain_id is None:
            self.chain_id = chain
            if seq != 0:
                self.add("TAMPERED", file, lineno, seq, "first record of the chain does not have seq 0")
            if prev != ZERO_MAC:
                self.add("TAMPERED", file, lineno, seq, "first record of the chain does not have prev = 64 zeros")
        else:
            if chain != self.chain_id:
                self.add("TAMPERED", file, lineno, seq,
                         f"chain id {chain!r} differs from {self.chain_id!r} (spliced from another chain)")
            expected = self.prev_seq + 1
            if seq > expected:
                self.add("TAMPERED", file, lineno, seq, f"expected seq {expected}: records missing")
            elif seq < expected:
                self.add("TAMPERED", file, lineno, seq,
                         f"expected seq {expected}: record duplicated, inserted or reordered")
            if prev != self.prev_mac:
                self.add("TAMPERED", file, lineno, seq, "prev does not match the previous record's mac")

        # step 6: file headers
        if self.file_headers:
            action = _get_path(rec, "event", "action")
            if lineno == 1:
                if action != "audit.file.open":
                    self.add("TAMPERED", file, lineno, seq, "line 1 is not an audit.file.open header")
                else:
                    name = _get_path(rec, "file", "name")
                    if name != basename:
                        self.add("TAMPERED", file, lineno, seq,
                                 f"header names file {name!r}, not {basename!r} (renamed, copied or reordered)")
            elif action == "audit.file.open":
                self.add("TAMPERED", file, lineno, seq,
                         "audit.file.open record not on line 1 (files concatenated or spliced)")

        if status == "ok" and chain == self.chain_id:
            self.verified_heads.setdefault(seq, []).append(mac)
        # continue from the claimed seq and mac (one edit, one finding)
        self.prev_seq, self.prev_mac = seq, mac
        self.last_seq = seq

    # ---- one file ----
    def process_file(self, path: str, data: bytes, is_last: bool) -> None:
        basename = os.path.basename(path)
        if not data:
            # section 9, "Files as a whole" (whether or not file headers are checked)
            if is_last:
                self.add("INCOMPLETE_TAIL", path, 0, None,
                         "the last file is empty (created, header never written)")
            else:
                self.add("TAMPERED", path, 0, None, "a file before the last is empty")
            return
        pieces = data.split(b"\n")
        torn = pieces.pop()  # b"" when the file ends with "\n"
        lines = pieces
        analyzed = [self.analyze(line) for line in lines]
        for idx, line in enumerate(lines):
            lineno = idx + 1
            a = analyzed[idx]
            if a.record is None:
                nxt = analyzed[idx + 1] if idx + 1 < len(lines) else None
                if nxt is not None and self.is_matching_recovery(nxt, line):
                    self.add("RECOVERED", path, lineno, a.seq,
                             f"torn line ({len(line)} bytes) documented by the next record")
                else:
                    self.add("TAMPERED", path, lineno, a.seq, a.error or "invalid line")
                    if a.claimed_mac is not None and self.chain_id is not None:
                        # section 9 step 5: after a faulty record, continue from its claimed
                        # seq and mac (one edit, one finding)
                        self.prev_seq, self.prev_mac = a.seq, a.claimed_mac
                        self.last_seq = a.seq
                if self.file_headers and lineno == 1:
                    self.add("TAMPERED", path, lineno, a.seq, "line 1 is not an audit.file.open header")
                continue
            self.process_record(a.record, path, lineno, basename)
        if torn:
            lineno = len(lines) + 1
            # Step 1: the final piece is only reported, never parsed or chained, even if it
            # happens to be a complete record (7.3: only a writer finishes such a line).
            if is_last:
                self.add("INCOMPLETE_TAIL", path, lineno, None,
                         f"final line of {len(torn)} bytes has no newline (torn write?)")
            else:
                self.add("TAMPERED", path, lineno, None,
                         f"unterminated final line of {len(torn)} bytes in a file that is not the last")

    # ---- step 7 ----
    def check_checkpoints(self, path: str, checkpoints: list[tuple[int, dict, dict, str]]) -> None:
        for lineno, value, cp, mac in checkpoints:
            self.check_checkpoint(path, lineno, value, cp, mac)

    def check_checkpoint(self, path: str, lineno: int, value: dict, cp: dict, mac: str) -> None:
        chain, seq = cp["chain"], cp["seq"]
        ours = self.chain_id is not None and chain == self.chain_id
        if not ours and chain in self.chains_seen:
            # records of that chain were spliced into this log: already TAMPERED; the
            # checkpoint is not about this log's chain and the chain is not absent either.
            return
        key = self.keyring.get(cp["kid"])
        problem = None
        if key is None:
            problem = ("UNKNOWN_KEY", f"checkpoint key {cp['kid']!r} is not in the keyring")
        elif cp["epoch"] < key.epoch(seq):
            problem = ("TAMPERED", "checkpoint.epoch is before epoch(seq): its MAC cannot be valid")
        else:
            try:
                mk = key.m(cp["epoch"])
            except EpochTooFar as exc:
                problem = ("TAMPERED", f"checkpoint: cannot derive the MAC key: {exc}")
            else:
                body = {"@timestamp": value["@timestamp"], "checkpoint": cp}
                expected = _hmac(mk, canonical_bytes(body)).hex()
                if not hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii")):
                    problem = ("TAMPERED", "checkpoint MAC does not verify")
        if not ours:
            # 9.7: a valid checkpoint of a chain the log does not contain at all; an invalid
            # one is not about this log and says nothing.
            if problem is None:
                self.add("TRUNCATED", path, lineno, seq,
                         f"valid checkpoint of chain {chain!r}, which the log does not contain "
                         "(deleted and restarted, or replaced)")
            return
        if problem is not None:
            self.add(problem[0], path, lineno, seq, problem[1])
            return
        if self.last_seq is None or self.last_seq < seq:
            self.add("TRUNCATED", path, lineno, seq,
                     f"log ends at seq {self.last_seq} before checkpointed seq {seq}")
            return
        heads = self.verified_heads.get(seq)
        if not heads:
            self.add("TAMPERED", path, lineno, seq,
                     "the record at the checkpointed seq did not verify or is absent")
        elif any(not hmac.compare_digest(h.encode(), cp["head"].encode()) for h in heads):
            self.add("TAMPERED", path, lineno, seq,
                     "record at the checkpointed seq has another MAC than its head")

    def finish(self, first_file: str) -> None:
        if self.sealed_count == 0:
            self.add("TRUNCATED", first_file, 0, None, "the log has no sealed record at all")

    def verdict(self) -> str:
        best = "OK"
        for f in self.findings:
            if f.kind in NOTE_KINDS:
                continue
            if SEVERITY[f.kind] > SEVERITY[best]:
                best = f.kind
        return best


class WitnessError(Exception):
    """A witness that cannot be used (section 9 step 7): a usage error, exit code 2."""


_WITNESS_BLANK = frozenset(b" \t\r")


def parse_witness(path: str, data: bytes) -> list[tuple[int, dict, dict, str]]:
    """Section 8 and 9 step 7: the checkpoints of a witness file, or WitnessError.

    Returns (line number, outer object, checkpoint object, mac) for each checkpoint line.
    """
    pieces = data.split(b"\n")
    pieces.pop()  # a final piece without "\n" is an interrupted append: ignored
    out = []
    for idx, line in enumerate(pieces):
        lineno = idx + 1
        # AMBIGUITY: "blank lines are ignored": an empty line, or one of only spaces, tabs
        # and CRs (as for keyring files), counts as blank.
        if all(b in _WITNESS_BLANK for b in line):
            continue
        try:
            out.append((lineno, *_parse_checkpoint_line(line)))
        except WitnessError as exc:
            raise WitnessError(f"witness {path} line {lineno}: {exc}") from None
    return out


def _parse_checkpoint_line(line: bytes) -> tuple[dict, dict, str]:
    try:
        value = strict_parse(line)
    except ParseError as exc:
        raise WitnessError(f"not strict JSON: {exc}") from None
    if canonical_bytes(value) != line:
        raise WitnessError("not in canonical form")
    if not isinstance(value, dict) or set(value) != {"@timestamp", "checkpoint", "mac"}:
        raise WitnessError("the line does not have exactly @timestamp, checkpoint, mac")
    cp = value["checkpoint"]
    if not isinstance(cp, dict) or set(cp) != CHECKPOINT_MEMBERS:
        raise WitnessError("checkpoint does not have exactly its seven members")
    # AMBIGUITY: "malformed" is read as breaking any rule of section 8 that can be checked
    # without a key: member types, v = 1, count = seq + 1, head and mac 64 lowercase hex, and
    # the section 4 character rules for chain and kid. E >= epoch(S) needs the key's L and
    # is checked with the MAC (a failure is TAMPERED, not a malformed line).
    problems = []
    if not isinstance(value["@timestamp"], str):
        problems.append("@timestamp is not a string")
    if not _is_int(cp["v"]) or cp["v"] != 1:
        problems.append("checkpoint.v is not 1")
    if not isinstance(cp["chain"], str) or not CHAIN_RE.match(cp["chain"]):
        problems.append("checkpoint.chain is not a valid chain id")
    if not _is_int(cp["seq"]) or cp["seq"] < 0:
        problems.append("checkpoint.seq is not a non-negative integer")
    elif not _is_int(cp["count"]) or cp["count"] != cp["seq"] + 1:
        problems.append("checkpoint.count is not seq + 1")
    if not _is_int(cp["epoch"]) or cp["epoch"] < 0:
        problems.append("checkpoint.epoch is not a non-negative integer")
    if not isinstance(cp["head"], str) or not LOWHEX64_RE.match(cp["head"]):
        problems.append("checkpoint.head is not 64 lowercase hex digits")
    if not isinstance(cp["kid"], str) or not KID_RE.match(cp["kid"]):
        problems.append("checkpoint.kid is not a valid key id")
    if not isinstance(value["mac"], str) or not LOWHEX64_RE.match(value["mac"]):
        problems.append("mac is not 64 lowercase hex digits")
    if problems:
        raise WitnessError("; ".join(problems))
    return value, cp, value["mac"]


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------

EXCLUDED_SUFFIXES = (".tmp", ".key", ".state", ".witness")


class UsageError(Exception):
    pass


def list_directory(path: str) -> list[str]:
    names = []
    for name in os.listdir(path):
        if name.startswith(".") or name.endswith(EXCLUDED_SUFFIXES):
            continue
        full = os.path.join(path, name)
        # AMBIGUITY: "regular files": symlinks are not followed (lstat).
        if stat.S_ISREG(os.lstat(full).st_mode):
            names.append(name)
    names.sort(key=lambda n: os.fsencode(n))
    if not names:
        # section 9, "Files as a whole": a usage error, not a verdict
        raise UsageError(f"directory {path} holds no log file")
    return [os.path.join(path, n) for n in names]


def run_verification(keyring: dict[str, VerificationKey], files: list[tuple[str, bytes]],
                     witness: tuple[str, bytes] | None, file_headers: bool,
                     reserialized: bool) -> Verifier:
    """Verify `files` (path, bytes) in order. Raises WitnessError for an unusable witness."""
    checkpoints = parse_witness(*witness) if witness is not None else []
    v = Verifier(keyring=keyring, file_headers=file_headers, reserialized=reserialized)
    # AMBIGUITY: FORMAT.md puts no bound on seq/epoch; deriving K[2^53] is infeasible. A
    # genuine chain has seq <= number of lines, so we refuse epochs beyond a generous bound.
    total_lines = sum(d.count(b"\n") + 1 for _, d in files)
    cap = max(1 << 20, 2 * total_lines + 16)
    for key in keyring.values():
        key.epoch_cap = cap
    for i, (path, data) in enumerate(files):
        v.process_file(path, data, is_last=(i == len(files) - 1))
    if witness is not None:
        v.check_checkpoints(witness[0], checkpoints)
    v.finish(files[0][0] if files else "-")
    return v


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


@dataclass
class JobResult:
    exit: int
    verdict: str
    findings: list[str]
    error: str | None = None


def run_job(key: str | None, paths: list[str], witness: str | None, file_headers: bool,
            reserialized: bool) -> JobResult:
    """One verification as the command line runs it (no output)."""
    if not key:
        return JobResult(2, "ERROR", [], "--key is required")
    if not paths:
        return JobResult(2, "ERROR", [], "no PATH given")
    try:
        keyring = parse_keyring(_read(key).decode("utf-8"))
        if any(os.path.isdir(p) for p in paths):
            if len(paths) != 1:
                raise UsageError("a directory must be the only PATH")
            files = list_directory(paths[0])
        else:
            files = list(paths)
        contents = [(p, _read(p)) for p in files]
        wit = (witness, _read(witness)) if witness else None
        v = run_verification(keyring, contents, wit, file_headers, reserialized)
    except (OSError, UnicodeDecodeError, KeyringError, UsageError, WitnessError) as exc:
        return JobResult(2, "ERROR", [], str(exc))
    verdict = v.verdict()
    return JobResult(EXIT_CODES[verdict], verdict, [f.render() for f in v.findings])


def run_batch(jobs_path: str) -> int:
    try:
        if jobs_path == "-":
            text = sys.stdin.buffer.read().decode("utf-8")
        else:
            text = _read(jobs_path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read the batch file: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout
    for no, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            job = json.loads(line)
            if not isinstance(job, dict):
                raise ValueError("not a JSON object")
            paths = job.get("paths") or []
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise ValueError("paths must be a list of strings")
        except ValueError as exc:
            print(f"error: batch line {no}: {exc}", file=sys.stderr)
            return 2
        res = run_job(job.get("key"), paths, job.get("witness"),
                      not job.get("no_file_headers", False), bool(job.get("reserialized", False)))
        out.write(json.dumps({"id": job.get("id"), "exit": res.exit, "verdict": res.verdict,
                              "findings": res.findings, "error": res.error}) + "\n")
        out.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Independent verifier of audit-log format v1")
    ap.add_argument("--key", metavar="KEYRING_FILE", help="keyring file (audit-vk-v1 lines)")
    ap.add_argument("--witness", metavar="FILE", help="witness file of checkpoints")
    ap.add_argument("--no-file-headers", action="store_true", help="skip the file header checks")
    ap.add_argument("--reserialized", action="store_true",
                    help="lines may be re-serialized: do not require canonical form")
    ap.add_argument("--batch", metavar="JOBS_FILE",
                    help="run the JSON jobs of JOBS_FILE ('-': stdin), one result line each")
    ap.add_argument("--self-test", action="store_true", help="check the vectors of FORMAT.md section 11")
    ap.add_argument("--format-md", metavar="FILE", help="FORMAT.md for --self-test")
    ap.add_argument("paths", nargs="*", metavar="PATH")
    args = ap.parse_args(argv)

    if args.self_test:
        md = args.format_md or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "FORMAT.md")
        return self_test(md)
    if args.batch:
        return run_batch(args.batch)

    res = run_job(args.key, args.paths, args.witness, not args.no_file_headers, args.reserialized)
    if res.error is not None:
        print(f"error: {res.error}", file=sys.stderr)
    for line in res.findings:
        print(line)
    print(f"VERDICT {res.verdict}")
    return res.exit


# --------------------------------------------------------------------------------------------
# Self-test: FORMAT.md section 11
# --------------------------------------------------------------------------------------------

def extract_vectors(markdown: str) -> dict[str, list[str]]:
    vectors: dict[str, list[str]] = {}
    lines = markdown.split("\n")
    i = 0
    marker = re.compile(r"^<!--\s*vector:([A-Za-z0-9_.-]+)\s*-->\s*$")
    while i < len(lines):
        m = marker.match(lines[i])
        i += 1
        if not m:
            continue
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        i += 1  # skip the opening fence
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        vectors[m.group(1)] = body
    return vectors


def self_test(md_path: str) -> int:
    try:
        with open(md_path, encoding="utf-8") as fh:
            vec = extract_vectors(fh.read())
    except OSError as exc:
        print(f"error: cannot read {md_path}: {exc}", file=sys.stderr)
        return 2
    failures: list[str] = []
    passes = 0

    def check(name: str, ok: bool, detail: str = "") -> None:
        nonlocal passes
        if ok:
            passes += 1
            print(f"PASS {name}")
        else:
            failures.append(name)
            print(f"FAIL {name} {detail}".rstrip())

    required = ["verification-key", "derived", "mac-input-0", "log", "checkpoint", "canonical", "rejected"]
    for name in required:
        check(f"vector {name} present", name in vec and len(vec[name]) > 0)
    if failures:
        print(f"SELF-TEST FAILED ({len(failures)} failures)")
        return 1

    # verification-key
    try:
        key = parse_verification_key(vec["verification-key"][0].strip())
        check("verification-key parses", key.kid == "test-k1" and key.epoch_len == 2
              and key.k0 == bytes(range(32)), f"kid={key.kid} L={key.epoch_len}")
    except KeyringError as exc:
        check("verification-key parses", False, str(exc))
        key = VerificationKey("test-k1", 2, bytes(range(32)))
    ring = {key.kid: key}

    # derived
    for line in vec["derived"]:
        m = re.match(r"^\s*([KM])\[(\d+)\]\s*=\s*([0-9a-f]{64})\s*$", line)
        if not m:
            check(f"derived line {line!r}", False, "unparsable")
            continue
        kind, e, hx = m.group(1), int(m.group(2)), m.group(3)
        got = (key.k(e) if kind == "K" else key.m(e)).hex()
        check(f"derived {kind}[{e}]", got == hx, f"got {got}")

    log_lines = [ln.encode("utf-8") for ln in vec["log"]]

    # mac-input-0
    rec0 = strict_parse(log_lines[0])
    mi = record_mac_input(rec0)
    check("mac-input-0 equals first log line without mac", mi == vec["mac-input-0"][0].encode("utf-8"))
    mac0 = _hmac(key.m(0), vec["mac-input-0"][0].encode("utf-8")).hex()
    check("mac-input-0 MAC under M[0] equals record 0 mac", mac0 == rec0["audit"]["mac"], f"got {mac0}")

    # log: each line canonical, each MAC verifies, whole log verifies OK without headers
    for i, ln in enumerate(log_lines):
        check(f"log line {i + 1} is canonical", canonical_bytes(strict_parse(ln)) == ln)
    log_data = b"".join(ln + b"\n" for ln in log_lines)

    def fresh_ring() -> dict[str, VerificationKey]:
        return {"test-k1": VerificationKey("test-k1", 2, bytes(range(32)))}

    v = run_verification(fresh_ring(), [("vector.log", log_data)], None, False, False)
    check("log verifies OK without file headers", v.verdict() == "OK" and not v.findings,
          "; ".join(f.render() for f in v.findings))
    v = run_verification(fresh_ring(), [("vector.log", log_data)], None, True, False)
    check("log fails with file headers on (no header)", v.verdict() == "TAMPERED")

    # checkpoint
    cp_data = vec["checkpoint"][0].encode("utf-8") + b"\n"
    v = run_verification(fresh_ring(), [("vector.log", log_data)], ("vector.witness", cp_data), False, False)
    check("checkpoint verifies against the log", v.verdict() == "OK" and not v.findings,
          "; ".join(f.render() for f in v.findings))
    short = b"".join(ln + b"\n" for ln in log_lines[:2])
    v = run_verification(fresh_ring(), [("vector.log", short)], ("vector.witness", cp_data), False, False)
    check("checkpoint detects a cut-off record", v.verdict() == "TRUNCATED",
          "; ".join(f.render() for f in v.findings))
    bad_cp = cp_data.replace(b'10:00:03', b'10:00:04')
    v = run_verification(fresh_ring(), [("vector.log", log_data)], ("vector.witness", bad_cp), False, False)
    check("altered checkpoint is rejected", v.verdict() == "TAMPERED")

    def witness_verdict(wit: bytes, log: bytes = log_data) -> str:
        try:
            return run_verification(fresh_ring(), [("vector.log", log)], ("vector.witness", wit),
                                    False, False).verdict()
        except WitnessError:
            return "ERROR"

    # section 9 step 7: witness lines
    check("witness: a malformed checkpoint (count != seq + 1) is a usage error",
          witness_verdict(cp_data.replace(b'"count":3', b'"count":4')) == "ERROR")
    check("witness: a non-JSON line is a usage error", witness_verdict(b"junk\n" + cp_data) == "ERROR")
    check("witness: blank lines are ignored", witness_verdict(b"\n" + cp_data + b"\n") == "OK")
    check("witness: a final line without newline is ignored",
          witness_verdict(cp_data[:-1], short) == "OK" and witness_verdict(cp_data[:-10] , short) == "OK"
          and witness_verdict(cp_data + b"\xff{", short) == "TRUNCATED")
    other_chain = cp_data.replace(b"0123456789abcdef0123456789abcdef", b"fedcba9876543210fedcba9876543210")
    check("witness: an invalid checkpoint of another chain says nothing",
          witness_verdict(other_chain) == "OK")
    resigned = strict_parse(other_chain.rstrip(b"\n"))
    del resigned["mac"]
    resigned["mac"] = _hmac(fresh_ring()["test-k1"].m(1), canonical_bytes(resigned)).hex()
    check("witness: a valid checkpoint of a chain absent from the log is TRUNCATED",
          witness_verdict(canonical_bytes(resigned) + b"\n") == "TRUNCATED")
    # section 9, files as a whole
    v = run_verification(fresh_ring(), [("a.log", log_data), ("b.log", b"")], None, False, False)
    check("an empty last file is INCOMPLETE_TAIL", v.verdict() == "INCOMPLETE_TAIL")
    v = run_verification(fresh_ring(), [("a.log", b""), ("b.log", log_data)], None, False, False)
    check("an empty earlier file is TAMPERED", v.verdict() == "TAMPERED")

    # negative: every single-byte change of the log is detected
    tampered_ok = True
    for pos in range(0, len(log_data), 7):
        b = bytearray(log_data)
        b[pos] ^= 0x01
        v = run_verification(fresh_ring(), [("vector.log", bytes(b))], None, False, False)
        if v.verdict() == "OK":
            tampered_ok = False
            print(f"  byte flip at {pos} not detected")
    check("byte flips in the log are detected", tampered_ok)
    v = run_verification({}, [("vector.log", log_data)], None, False, False)
    check("log without its key is UNKNOWN_KEY", v.verdict() == "UNKNOWN_KEY")

    # canonical
    for line in vec["canonical"]:
        if "→" not in line:
            check(f"canonical vector {line!r}", False, "no arrow")
            continue
        left, right = line.split("→", 1)
        left, right = left.strip(" "), right.strip(" ")
        try:
            got = canonical(strict_parse(left.encode("utf-8")))
            check(f"canonical {left}", got == right, f"got {got}")
        except ParseError as exc:
            check(f"canonical {left}", False, f"rejected: {exc}")
        try:
            check(f"canonical output is a fixpoint: {right}",
                  canonical(strict_parse(right.encode("utf-8"))) == right)
        except ParseError as exc:
            check(f"canonical output is a fixpoint: {right}", False, f"rejected: {exc}")

    # rejected
    for line in vec["rejected"]:
        try:
            strict_parse(line.encode("utf-8"))
            check(f"rejected {line!r}", False, "was accepted")
        except ParseError:
            check(f"rejected {line!r}", True)

    # extra parser checks from section 2 prose
    extra_rejected = [
        b'{"a":1,"\\u0061":2}', b'{"a":"\\udc00"}', b'{"a":"\\ud800\\u0041"}', b'{"a":+1}',
        b'{"a":-9007199254740992}', b'{"a":"\xff"}', b'{"a":"\xed\xa0\x80"}', b'{"a":"\x1f"}',
        b'[' * 65 + b']' * 65, b'{"a":1,}', b'{"a":0x1}', b'{"a":1}x', b'{"a":NaN}', b'{"a":1E3}',
        b'{"a":-}', b'{"a":00}', b'{"a":"\\x"}',
    ]
    for raw in extra_rejected:
        try:
            strict_parse(raw)
            check(f"extra rejected {raw[:40]!r}", False, "was accepted")
        except ParseError:
            check(f"extra rejected {raw[:40]!r}", True)
    extra_accepted = [
        (b' {"a" :\t[ ]\r\n} ', '{"a":[]}'),
        (b'{"a":9007199254740991,"b":-9007199254740991}', '{"a":9007199254740991,"b":-9007199254740991}'),
        (b'[' * 64 + b']' * 64, '[' * 64 + ']' * 64),
        (b'{"\\u007f\\u2028":"\\u00E9"}', '{"\x7f\u2028":"\u00e9"}'),
        (b'{"a":"\\b\\f\\u0001"}', '{"a":"\\b\\f\\u0001"}'),
    ]
    for raw, want in extra_accepted:
        try:
            got = canonical(strict_parse(raw))
            check(f"extra accepted {raw[:40]!r}", got == want, f"got {got!r}")
        except ParseError as exc:
            check(f"extra accepted {raw[:40]!r}", False, str(exc))

    if failures:
        print(f"SELF-TEST FAILED ({len(failures)} of {len(failures) + passes} checks)")
        return 1
    print(f"SELF-TEST OK ({passes} checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
