//! The verifier's fast path: recognise, without allocating, a log line that is a canonical
//! sealed record, and find in it what the verifier needs.
//!
//! [`scan_line`] accepts a line only when all of these hold, each checked on the bytes:
//!
//! - it is valid UTF-8 and, as a whole, one JSON object in exactly the form the canonical
//!   serializer writes: no whitespace; object keys unescaped and strictly increasing in
//!   canonical (UTF-16) order; strings with only the escapes the serializer writes
//!   (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, and lowercase `\u00xx` for the other
//!   controls); integers without leading zeros, `-0`, fraction or exponent, within ±(2^53-1);
//!   nesting at most [`MAX_FAST_DEPTH`] levels. So `canonical::parse_bytes(line)` succeeds
//!   and re-serializes to exactly `line`: the line is byte-for-byte canonical.
//! - its `audit` member is exactly `{"chain":C,"kid":K,"mac":M,"prev":P,"seq":N,"v":1}` with
//!   C a valid chain id, K a valid key id, M and P 64 lowercase hex digits and N ≥ 0: so
//!   [`Integrity::of`](crate::seal::Integrity::of) accepts it, with these values.
//! - `event.action`, when it is a string, has no escape.
//!
//! Anything else (including lines that are valid but unusual: escaped keys, deep nesting)
//! returns `None`, and the verifier takes its general path, which parses the line into a
//! value tree and reports exactly what is wrong. The fast path is therefore only ever an
//! optimisation: on every line it accepts, it yields what the general path would.
//!
//! Because the line is canonical and `audit` has exactly those six members, the MAC input
//! (the canonical form of the record without `audit.mac`) is the line with the bytes
//! `"mac":"<64 hex>",` removed: [`SealedLine::mac_cut`].

use std::cmp::Ordering;
use std::ops::Range;

use crate::canonical::{cmp_key_bytes, MAX_SAFE_INTEGER};

/// Deepest nesting the fast path accepts (the top-level object is level 1); deeper lines
/// take the general path, which allows up to [`MAX_DEPTH`](crate::canonical::MAX_DEPTH).
pub(crate) const MAX_FAST_DEPTH: usize = 32;

/// What the verifier needs from a canonical sealed line: byte ranges into the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SealedLine {
    /// The value of `audit` (which holds the next four).
    pub audit: Range<usize>,
    /// `audit.chain` (the string's content).
    pub chain: Range<usize>,
    /// `audit.kid`.
    pub kid: Range<usize>,
    /// `audit.mac`.
    pub mac: Range<usize>,
    /// `audit.prev`.
    pub prev: Range<usize>,
    /// `audit.seq`.
    pub seq: u64,
    /// `event.action`, when `event` is an object with a string member `action`.
    pub action: Option<Range<usize>>,
    /// The bytes `"mac":"<64 hex>",`: the MAC input is the line without them.
    pub mac_cut: Range<usize>,
}

/// Recognise a canonical sealed line at the start of `buf` (see the module docs), followed
/// by a newline; returns what it found and the length of the line without its newline.
/// `None` means "take the general path", not "invalid".
///
/// A canonical line holds no newline byte (not in a string, where it is escaped, nor
/// between tokens), so the line ends at the first newline, and it is canonical only if its
/// top-level object ends exactly there.
///
/// Most lines take [`Hopper`]: one branch-free pass over the line checks that it holds no
/// control byte and no backslash and is ASCII (or valid UTF-8), and records where its
/// quotes are, so that a string's end is found from a bit mask instead of byte by byte.
/// Lines with a backslash (escapes) or longer than [`HOP_MAX_LINE`] take the byte-wise
/// [`Scanner`], which accepts exactly the same canonical sealed lines.
pub(crate) fn scan_line(buf: &[u8]) -> Option<(SealedLine, usize)> {
    let len = memchr::memchr(b'\n', buf)?;
    match hop_line(&buf[..len]) {
        Hop::Sealed(sealed) => Some((sealed, len)),
        Hop::Refused => None,
        Hop::Unsupported => scan_line_bytes(buf),
    }
}

/// [`scan_line`] by the byte-wise [`Scanner`] alone (the reference the [`Hopper`] is tested
/// against, and the path of lines with escapes).
pub(crate) fn scan_line_bytes(buf: &[u8]) -> Option<(SealedLine, usize)> {
    let mut s = Scanner {
        b: buf,
        non_ascii: false,
        p: 0,
        audit: None,
        action: None,
    };
    if buf.first() != Some(&b'{') {
        return None;
    }
    s.object(1, Ctx::Top)?;
    if buf.get(s.p) != Some(&b'\n') {
        return None;
    }
    let audit = s.audit?;
    let mut sealed = audit_member(buf, audit)?;
    sealed.action = s.action;
    Some((sealed, s.p))
}

/// Longest line (without its newline) the [`Hopper`] takes: its quote mask lives on the
/// stack. Longer lines take the byte-wise [`Scanner`].
pub(crate) const HOP_MAX_LINE: usize = 64 * HOP_BLOCKS;
const HOP_BLOCKS: usize = 32;

/// What the [`Hopper`] concluded about a line.
enum Hop {
    /// A canonical sealed line.
    Sealed(SealedLine),
    /// Not a canonical sealed line: the byte-wise scanner would refuse it too.
    Refused,
    /// A line the hopper does not handle (escapes, or too long): ask the byte-wise scanner.
    Unsupported,
}

/// The facts of one pass over a whole line besides its quote mask: whether any byte is
/// below 0x20, a backslash, or above 0x7F.
struct LineBits {
    control: bool,
    backslash: bool,
    ascii: bool,
}

/// The facts of `line` (at most [`HOP_MAX_LINE`] bytes), in one pass of loops written
/// without early exits so that they vectorize: per 64-byte block a flag byte per quote,
/// packed eight at a time into mask bits by a multiplication and written to `quotes` (bit
/// `i % 64` of word `i / 64` is set when byte `i` is `"`; `quotes` starts zeroed) where it
/// lies, since returning it would copy it; and, while the block is loaded, a fold of "below
/// 0x20, above 0x7F or a backslash". Only a line where that fold finds a byte (a non-ASCII
/// or escaped line) is read again, by [`odd_bits`], to tell which.
fn line_bits(line: &[u8], quotes: &mut [u64; HOP_BLOCKS]) -> LineBits {
    debug_assert!(line.len() <= HOP_MAX_LINE);
    let mut odd = false;
    let (blocks, rest) = line.as_chunks::<64>();
    for (blk, m) in blocks.iter().zip(quotes.iter_mut()) {
        *m = quote_mask(blk, &mut odd);
    }
    if !rest.is_empty() {
        // The last block padded with spaces (neither quotes nor odd bytes), so that it
        // takes the same unrolled code as the others.
        let mut last = [b' '; 64];
        last[..rest.len()].copy_from_slice(rest);
        quotes[line.len() / 64] = quote_mask(&last, &mut odd);
    }
    if odd {
        odd_bits(line)
    } else {
        LineBits {
            control: false,
            backslash: false,
            ascii: true,
        }
    }
}

/// The facts of a line that has a byte below 0x20, above 0x7F or a backslash: running
/// minimum, maximum and backslash folds.
#[cold]
fn odd_bits(line: &[u8]) -> LineBits {
    let min = line.iter().fold(0xFFu8, |a, &c| a.min(c));
    let max = line.iter().fold(0u8, |a, &c| a.max(c));
    let backslash = line.iter().fold(false, |a, &c| a | (c == b'\\'));
    LineBits {
        control: min < 0x20,
        backslash,
        ascii: max < 0x80,
    }
}

/// Bit `i` set when `blk[i]` is `"`; sets `odd` when a byte is below 0x20, above 0x7F
/// (negative as `i8`) or a backslash.
#[inline]
fn quote_mask(blk: &[u8; 64], odd: &mut bool) -> u64 {
    let mut flags = [0u8; 64];
    let mut any = 0u8;
    for (f, &c) in flags.iter_mut().zip(blk) {
        *f = u8::from(c == b'"');
        any |= u8::from((c as i8) < 0x20) | u8::from(c == b'\\');
    }
    *odd |= any != 0;
    let mut m = 0u64;
    for (g, eight) in flags.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(eight.try_into().unwrap_or([0; 8]));
        // Flag byte k (0 or 1, at bit 8k) times the byte (1 << (7 - j)) at bit 8j lands at
        // bit 8k + 7j + 7, which is 56 + k for j = 7 - k; no two partial products share a
        // bit, so nothing carries, and bits 56..64 are the eight flags in order.
        m |= (w.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * g);
    }
    m
}

/// The [`Hopper`] on one line (without its newline).
fn hop_line(line: &[u8]) -> Hop {
    if line.len() > HOP_MAX_LINE {
        return Hop::Unsupported;
    }
    let mut quotes = [0u64; HOP_BLOCKS];
    let bits = line_bits(line, &mut quotes);
    if bits.control {
        // A canonical line has no raw byte below 0x20: strings escape them, and there is
        // no whitespace between tokens.
        return Hop::Refused;
    }
    if bits.backslash {
        return Hop::Unsupported;
    }
    // Outside strings the grammar admits ASCII only, so this is the UTF-8 check of every
    // string.
    if !bits.ascii && std::str::from_utf8(line).is_err() {
        return Hop::Refused;
    }
    let mut h = Hopper {
        b: line,
        quotes: &quotes,
        ascii: bits.ascii,
        audit: None,
        action: None,
    };
    if line.first() != Some(&b'{') || h.object(0, 1, Ctx::Top) != Some(line.len()) {
        return Hop::Refused;
    }
    match h.audit {
        Some(mut sealed) => {
            sealed.action = h.action;
            Hop::Sealed(sealed)
        }
        None => Hop::Refused,
    }
}

/// The fast scanner of a line that has no control byte, no backslash and is valid UTF-8:
/// every string is then canonical as it stands (RFC 8785 writes every other character as
/// itself), and ends at the next quote, which the mask gives without a loop. It accepts
/// the same grammar as [`Scanner`], and matches the `audit` value against the one shape of
/// a sealed record directly.
///
/// Its methods take the position where their token starts and return the position after
/// it (so that the position stays in a register rather than in the struct).
struct Hopper<'a> {
    /// The line, without its newline.
    b: &'a [u8],
    quotes: &'a [u64; HOP_BLOCKS],
    /// The whole line is ASCII (so key order is byte order).
    ascii: bool,
    /// The `audit` member, matched.
    audit: Option<SealedLine>,
    /// The content of `event.action` when it is a string.
    action: Option<Range<usize>>,
}

impl Hopper<'_> {
    #[inline]
    fn at(&self, p: usize) -> Option<u8> {
        self.b.get(p).copied()
    }

    /// The position of the first quote at or after `p`.
    #[inline]
    fn next_quote(&self, p: usize) -> Option<usize> {
        let mut i = p / 64;
        let mut m = *self.quotes.get(i)? & (!0u64 << (p % 64));
        while m == 0 {
            i += 1;
            m = *self.quotes.get(i)?;
        }
        let q = i * 64 + m.trailing_zeros() as usize;
        // Mask bits exist only for bytes of the line.
        (q < self.b.len()).then_some(q)
    }

    /// A string whose opening quote is at `p`: its content range (its closing quote is at
    /// the range's end).
    #[inline]
    fn string(&self, p: usize) -> Option<Range<usize>> {
        let start = p + 1;
        Some(start..self.next_quote(start)?)
    }

    /// The bytes `word` at `p` (a fixed-size compare, which compiles to a few loads).
    #[inline(always)]
    fn literal<const N: usize>(&self, p: usize, word: &[u8; N]) -> Option<usize> {
        let at: &[u8; N] = self.b.get(p..p + N)?.try_into().ok()?;
        (at == word).then_some(p + N)
    }

    fn value(&mut self, p: usize, level: usize) -> Option<usize> {
        match self.at(p)? {
            b'"' => Some(self.string(p)?.end + 1),
            b'{' => self.object(p, level, Ctx::Other),
            b'[' => self.array(p, level),
            b'-' | b'0'..=b'9' => Some(canonical_integer(self.b, p)?.0),
            b't' => self.literal(p, b"true"),
            b'f' => self.literal(p, b"false"),
            b'n' => self.literal(p, b"null"),
            _ => None,
        }
    }

    fn array(&mut self, p: usize, level: usize) -> Option<usize> {
        if level > MAX_FAST_DEPTH {
            return None;
        }
        let mut p = p + 1;
        if self.at(p)? == b']' {
            return Some(p + 1);
        }
        loop {
            p = self.value(p, level + 1)?;
            match self.at(p)? {
                b',' => p += 1,
                b']' => return Some(p + 1),
                _ => return None,
            }
        }
    }

    fn object(&mut self, p: usize, level: usize, ctx: Ctx) -> Option<usize> {
        if level > MAX_FAST_DEPTH {
            return None;
        }
        let mut p = p + 1;
        if self.at(p)? == b'}' {
            return Some(p + 1);
        }
        let mut prev: Option<Range<usize>> = None;
        loop {
            if self.at(p)? != b'"' {
                return None;
            }
            let key = self.string(p)?;
            let name = &self.b[key.clone()];
            if let Some(prev) = prev {
                let prev = &self.b[prev];
                // For ASCII keys, UTF-16 order is byte order.
                let order = if self.ascii {
                    // Short keys: a plain loop beats a call to memcmp.
                    prev.iter()
                        .zip(name)
                        .find(|(a, b)| a != b)
                        .map_or(prev.len().cmp(&name.len()), |(a, b)| a.cmp(b))
                } else {
                    cmp_key_bytes(prev, name)
                };
                if order != Ordering::Less {
                    return None; // out of order, or a duplicate
                }
            }
            p = key.end + 1;
            prev = Some(key);
            if self.at(p)? != b':' {
                return None;
            }
            p += 1;
            let first = self.at(p)?;
            p = match (ctx, name) {
                (Ctx::Top, b"audit") => {
                    let sealed = self.audit_value(p)?;
                    let end = sealed.audit.end;
                    self.audit = Some(sealed);
                    end
                }
                (Ctx::Top, b"event") if first == b'{' => self.object(p, level + 1, Ctx::Event)?,
                (Ctx::Event, b"action") if first == b'"' => {
                    let action = self.string(p)?;
                    let end = action.end + 1;
                    self.action = Some(action);
                    end
                }
                // Most values are strings: no call for them.
                _ if first == b'"' => self.string(p)?.end + 1,
                _ => self.value(p, level + 1)?,
            };
            match self.at(p)? {
                b',' => p += 1,
                b'}' => return Some(p + 1),
                _ => return None,
            }
        }
    }

    /// The value of the top-level `audit` member at `p`, which must be exactly
    /// `{"chain":C,"kid":K,"mac":M,"prev":P,"seq":N,"v":1}` (see [`audit_member`], which
    /// checks the same shape on an already scanned value).
    fn audit_value(&self, start: usize) -> Option<SealedLine> {
        let b = self.b;
        let p = self.literal(start, b"{\"chain\":\"")?;
        let chain = p..self.next_quote(p)?;
        let chain_ok = chain.len() <= 64
            && b[chain.clone()].iter().fold(!chain.is_empty(), |all, &c| {
                all & (c.is_ascii_alphanumeric() | (c == b'-') | (c == b'_'))
            });
        if !chain_ok {
            return None;
        }
        let p = self.literal(chain.end, b"\",\"kid\":\"")?;
        let kid = p..self.next_quote(p)?;
        let kid_ok = kid.len() <= 64
            && b[kid.clone()].iter().fold(!kid.is_empty(), |all, &c| {
                all & (c.is_ascii_alphanumeric() | matches!(c, b'.' | b'_' | b'-'))
            });
        if !kid_ok {
            return None;
        }
        let cut_start = kid.end + 2; // at `"mac"`
        let p = self.literal(kid.end, b"\",\"mac\":\"")?;
        let mac = self.hex64(p)?;
        let cut_end = self.literal(mac.end, b"\",")?; // after the comma: at `"prev"`
        let p = self.literal(cut_end, b"\"prev\":\"")?;
        let prev = self.hex64(p)?;
        let p = self.literal(prev.end, b"\",\"seq\":")?;
        if self.at(p)? == b'-' {
            return None;
        }
        let (after, seq) = canonical_integer(b, p)?;
        let end = self.literal(after, b",\"v\":1}")?;
        Some(SealedLine {
            audit: start..end,
            chain,
            kid,
            mac,
            prev,
            seq,
            action: None,
            mac_cut: cut_start..cut_end,
        })
    }

    /// 64 lowercase hex digits at `start` (followed by anything).
    #[inline]
    fn hex64(&self, start: usize) -> Option<Range<usize>> {
        let digits = self.b.get(start..start + 64)?;
        // No early exit: this vectorizes.
        let ok = digits
            .iter()
            .fold(true, |all, &c| all & matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        ok.then_some(start..start + 64)
    }
}

/// An integer in canonical form within ±(2^53 - 1) at `p` (a `-` or a digit): the position
/// after it and its magnitude. A fraction or exponent would follow directly; callers only
/// accept `,`, `}` or `]` after a value, so `1.5` and `1e3` are refused there.
#[inline]
fn canonical_integer(b: &[u8], p: usize) -> Option<(usize, u64)> {
    let negative = b.get(p) == Some(&b'-');
    let start = p + usize::from(negative);
    let mut end = start;
    while let Some(b'0'..=b'9') = b.get(end) {
        end += 1;
    }
    let digits = &b[start..end];
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    if digits[0] == b'0' && (digits.len() > 1 || negative) {
        return None; // leading zero or -0
    }
    let magnitude = digits
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    if magnitude > MAX_SAFE_INTEGER as u64 {
        return None;
    }
    Some((end, magnitude))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// The record's members.
    Top,
    /// The members of the top-level `event` object.
    Event,
    /// Anything else.
    Other,
}

struct Scanner<'a> {
    b: &'a [u8],
    /// Set by `string` when it meets a non-ASCII byte.
    non_ascii: bool,
    p: usize,
    /// The value of the top-level `audit` member.
    audit: Option<Range<usize>>,
    /// The content of `event.action` when it is a string.
    action: Option<Range<usize>>,
}

impl Scanner<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.p).copied()
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.p += 1;
            Some(())
        } else {
            None
        }
    }

    /// A value at `level` (the number of containers enclosing it, plus one if it is one).
    fn value(&mut self, level: usize, ctx: Ctx) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.object(level, ctx),
            b'[' => self.array(level),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.p..self.p + word.len())? == word {
            self.p += word.len();
            Some(())
        } else {
            None
        }
    }

    /// An integer in canonical form within ±(2^53 - 1).
    fn number(&mut self) -> Option<()> {
        self.p = canonical_integer(self.b, self.p)?.0;
        Some(())
    }

    /// A string with canonical escapes only and valid UTF-8; returns its content range and
    /// whether it has escapes. (Outside strings the grammar admits ASCII only, so a line
    /// whose strings are valid UTF-8 is valid UTF-8.)
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        let b = self.b;
        let start = self.p + 1;
        let mut q = start;
        let mut escaped = false;
        loop {
            q = scan_ascii(b, q);
            match *b.get(q)? {
                b'"' => {
                    self.p = q + 1;
                    return Some((start..q, escaped));
                }
                0x80.. => {
                    self.non_ascii = true;
                    // A run of non-ASCII bytes: between ASCII bytes, it is valid UTF-8
                    // exactly when it is a sequence of whole multi-byte characters.
                    let run = b[q..].iter().position(|&c| c < 0x80).unwrap_or(b.len() - q);
                    std::str::from_utf8(&b[q..q + run]).ok()?;
                    q += run;
                }
                b'\\' => {
                    escaped = true;
                    match *b.get(q + 1)? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => q += 2,
                        b'u' => {
                            let hex = b.get(q + 2..q + 6)?;
                            let low = match hex[3] {
                                d @ b'0'..=b'9' => d - b'0',
                                d @ b'a'..=b'f' => d - b'a' + 10,
                                _ => return None,
                            };
                            let code = match (hex[0], hex[1], hex[2]) {
                                (b'0', b'0', b'0') => low,
                                (b'0', b'0', b'1') => 0x10 + low,
                                _ => return None,
                            };
                            // These have short escapes, which the serializer uses.
                            if matches!(code, 0x08 | 0x09 | 0x0A | 0x0C | 0x0D) {
                                return None;
                            }
                            q += 6;
                        }
                        _ => return None, // `\/` and anything else is not canonical
                    }
                }
                _ => return None, // a raw control character
            }
        }
    }

    fn array(&mut self, level: usize) -> Option<()> {
        if level > MAX_FAST_DEPTH {
            return None;
        }
        self.p += 1;
        if self.peek()? == b']' {
            self.p += 1;
            return Some(());
        }
        loop {
            self.value(level + 1, Ctx::Other)?;
            match self.peek()? {
                b',' => self.p += 1,
                b']' => {
                    self.p += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, level: usize, ctx: Ctx) -> Option<()> {
        if level > MAX_FAST_DEPTH {
            return None;
        }
        self.p += 1;
        if self.peek()? == b'}' {
            self.p += 1;
            return Some(());
        }
        let mut prev: Option<Range<usize>> = None;
        let mut prev_ascii = true;
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            self.non_ascii = false;
            let (key, escaped) = self.string()?;
            let ascii = !self.non_ascii;
            if escaped {
                return None;
            }
            // Valid UTF-8: checked by `string`.
            let name = &self.b[key.clone()];
            if let Some(prev) = prev {
                let prev = &self.b[prev];
                // For ASCII keys, UTF-16 order is byte order.
                let order = if ascii && prev_ascii {
                    // Short keys: a plain loop beats a call to memcmp.
                    prev.iter()
                        .zip(name)
                        .find(|(a, b)| a != b)
                        .map_or(prev.len().cmp(&name.len()), |(a, b)| a.cmp(b))
                } else {
                    cmp_key_bytes(prev, name)
                };
                if order != Ordering::Less {
                    return None; // out of order, or a duplicate
                }
            }
            prev = Some(key);
            prev_ascii = ascii;
            self.expect(b':')?;
            let at = self.p;
            match (ctx, name) {
                (Ctx::Top, b"audit") => {
                    self.value(level + 1, Ctx::Other)?;
                    self.audit = Some(at..self.p);
                }
                (Ctx::Top, b"event") => self.value(level + 1, Ctx::Event)?,
                (Ctx::Event, b"action") if self.peek()? == b'"' => {
                    let (content, escaped) = self.string()?;
                    if escaped {
                        return None;
                    }
                    self.action = Some(content);
                }
                _ => self.value(level + 1, Ctx::Other)?,
            }
            match self.peek()? {
                b',' => self.p += 1,
                b'}' => {
                    self.p += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// The position of the first byte at or after `p` that is `"`, `\\`, a control character
/// or not ASCII, or `b.len()`.
#[inline]
fn scan_ascii(b: &[u8], p: usize) -> usize {
    crate::canonical::scan_string_bytes::<true>(b, p)
}

/// Match the (already canonical) `audit` value against the one shape a valid sealed record
/// has; `range` is its position in `line`.
fn audit_member(line: &[u8], range: Range<usize>) -> Option<SealedLine> {
    let mut p = range.start;
    let lit = |p: &mut usize, s: &[u8]| -> Option<()> {
        if line.get(*p..*p + s.len())? == s {
            *p += s.len();
            Some(())
        } else {
            None
        }
    };
    /// The run of bytes up to the next `"` (within the `audit` value), if they all pass `ok`.
    fn run(line: &[u8], end: usize, p: &mut usize, ok: impl Fn(u8) -> bool) -> Range<usize> {
        let start = *p;
        let len = scan_ascii(&line[..end], start) - start;
        // No early exit: this loop vectorizes.
        let all = line[start..start + len]
            .iter()
            .fold(true, |all, &b| all & ok(b));
        if all {
            *p = start + len;
        }
        start..*p
    }
    /// 64 lowercase hex digits followed by `"`.
    fn fixed64(line: &[u8], end: usize, p: &mut usize) -> Range<usize> {
        let start = *p;
        let ok = line.get(start..start + 64).is_some_and(|d| {
            d.iter()
                .fold(true, |all, &b| all & matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        }) && start + 64 < end
            && line[start + 64] == b'"';
        if ok {
            *p = start + 64;
        }
        start..*p
    }
    let end = range.end;
    lit(&mut p, b"{\"chain\":\"")?;
    let chain = run(line, end, &mut p, |b| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
    });
    lit(&mut p, b"\",\"kid\":\"")?;
    let kid = run(line, end, &mut p, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
    });
    let cut_start = p + 2; // at `"mac"`
    lit(&mut p, b"\",\"mac\":\"")?;
    let mac = fixed64(line, end, &mut p);
    lit(&mut p, b"\",")?;
    let cut_end = p; // after the comma: at `"prev"`
    lit(&mut p, b"\"prev\":\"")?;
    let prev = fixed64(line, end, &mut p);
    lit(&mut p, b"\",\"seq\":")?;
    let seq_start = p;
    while p < end && line[p].is_ascii_digit() {
        p += 1;
    }
    let seq_digits = seq_start..p;
    lit(&mut p, b",\"v\":1}")?;
    let ok = p == range.end
        && (1..=64).contains(&chain.len())
        && (1..=64).contains(&kid.len())
        && mac.len() == 64
        && prev.len() == 64
        && !seq_digits.is_empty();
    if !ok {
        return None;
    }
    // The scanner checked the digits are a canonical integer within 2^53 - 1.
    let seq = line[seq_digits]
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    Some(SealedLine {
        audit: range,
        chain,
        kid,
        mac,
        prev,
        seq,
        action: None,
        mac_cut: cut_start..cut_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{parse_bytes, Object, Value};
    use crate::keys::SealingKey;
    use crate::record::{Outcome, Record};
    use crate::seal::{Integrity, Sealer};
    use crate::signing::mac_input;

    /// What the general path concludes about a line, in the fast path's terms.
    fn general(line: &[u8]) -> Option<(Integrity, String, String)> {
        let v = parse_bytes(line).ok()?;
        if v.to_canonical_string().as_bytes() != line {
            return None;
        }
        let obj = v.as_object()?;
        let integrity = Integrity::of(obj).ok()?;
        let action = crate::record::action_of(obj).to_owned();
        Some((integrity, action, mac_input(obj)))
    }

    /// Soundness: whatever the fast path accepts, the general path accepts with the same
    /// facts and the same MAC input.
    fn check(line: &[u8]) -> bool {
        let mut buf = line.to_vec();
        buf.extend_from_slice(b"\n{\"next\":1}\n");
        // The hopper and the byte-wise scanner agree on every line.
        let found = scan_line(&buf);
        assert_eq!(
            found,
            scan_line_bytes(&buf),
            "the two scanners disagree on {}",
            String::from_utf8_lossy(line)
        );
        let Some((fast, len)) = found else {
            return false;
        };
        // A line ends at its first newline.
        let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
        assert_eq!(len, line.len());
        let (integrity, action, input) = general(line).unwrap_or_else(|| {
            panic!(
                "fast path accepted a line the general path refuses: {}",
                String::from_utf8_lossy(line)
            )
        });
        let text = |r: &Range<usize>| std::str::from_utf8(&line[r.clone()]).unwrap();
        assert_eq!(text(&fast.chain), integrity.chain);
        assert_eq!(text(&fast.kid), integrity.kid);
        assert_eq!(text(&fast.mac), integrity.mac);
        assert_eq!(text(&fast.prev), integrity.prev);
        assert_eq!(fast.seq, integrity.seq);
        assert_eq!(fast.action.as_ref().map_or("", text), action);
        let mut cut = line[..fast.mac_cut.start].to_vec();
        cut.extend_from_slice(&line[fast.mac_cut.end..]);
        assert_eq!(cut, input.as_bytes());
        true
    }

    fn sealed_lines() -> Vec<String> {
        let (sk, _) = SealingKey::generate("k-1.a_b", 4).unwrap();
        let mut sealer = Sealer::with_chain_id(sk, "chain_1-X").unwrap();
        let texts = [
            "plain",
            "",
            "quote \" backslash \\ slash /",
            "controls \u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f}\u{7f}",
            "unicode é ü 中文 😀 \u{e000} \u{ffff}",
            "{\"audit\":{\"chain\":\"x\"}}",
        ];
        let mut lines = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let mut r = Record::new("auth.login", Outcome::Denied, std::time::UNIX_EPOCH).unwrap();
            r.set_actor(*t);
            r.set_field("n", i as i64 - 3);
            r.set_field("big", crate::canonical::MAX_SAFE_INTEGER);
            r.set_field("neg", -crate::canonical::MAX_SAFE_INTEGER);
            r.set_field("zero", 0);
            r.set_field("t", true);
            r.set_field("f", false);
            r.set_field("null", Value::Null);
            r.set_field(
                "list",
                vec![Value::from(*t), Value::from(1), Value::Array(vec![])],
            );
            r.set_field("empty", Object::new());
            r.set_field(*t, "a key with anything in it");
            r.set_field("é", 1);
            r.set_field("\u{e000}", 2);
            r.set_field("😀", 3);
            r.set_reason(*t);
            let _ = r.set("file.name", *t);
            lines.push(sealer.seal(r).unwrap().line.trim_end().to_owned());
        }
        lines.push(
            sealer
                .seal(Record::new("a.b", Outcome::Success, std::time::UNIX_EPOCH).unwrap())
                .unwrap()
                .line
                .trim_end()
                .to_owned(),
        );
        lines
    }

    #[test]
    fn scan_ascii_matches_naive_scan() {
        let special = |c: u8| !(0x20..0x80).contains(&c) || c == b'"' || c == b'\\';
        for c in 0..=255u8 {
            for len in 0..20 {
                for at in 0..=len {
                    let mut buf = vec![b'a'; len];
                    if at < len {
                        buf[at] = c;
                    }
                    for start in 0..=len {
                        let naive = (start..len).find(|&i| special(buf[i])).unwrap_or(len);
                        assert_eq!(scan_ascii(&buf, start), naive, "{buf:?} from {start}");
                    }
                }
            }
        }
    }

    #[test]
    fn line_bits_match_a_naive_scan() {
        let alphabet: &[u8] = b"\"\"\"\\aZ0{}:,\x00\x1f\x20\x7f\x80\xc3\xff";
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let lens = [
            0,
            1,
            7,
            8,
            63,
            64,
            65,
            127,
            128,
            129,
            500,
            2047,
            HOP_MAX_LINE,
        ];
        for round in 0..3000 {
            let len = if round < lens.len() * 20 {
                lens[round % lens.len()]
            } else {
                (next() as usize) % (HOP_MAX_LINE + 1)
            };
            // Mostly plain bytes, with a few of each kind.
            let line: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 8 == 0 {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    } else {
                        b'a' + (r >> 8) as u8 % 26
                    }
                })
                .collect();
            // The line, and the line without its control, non-ASCII and backslash bytes
            // (which only the rare path reads again), but for one such byte at a random
            // place (or none).
            let plain = |c: u8| (0x20..0x80).contains(&c) && c != b'\\';
            let mut clean: Vec<u8> = line
                .iter()
                .map(|&c| if plain(c) { c } else { b'a' })
                .collect();
            if !clean.is_empty() && round % 2 == 0 {
                let at = next() as usize % clean.len();
                clean[at] = [0x00, 0x1f, 0x80, 0xff, b'\\'][round / 2 % 5];
            }
            for line in [line, clean] {
                let mut quotes = [0u64; HOP_BLOCKS];
                let bits = line_bits(&line, &mut quotes);
                for i in 0..HOP_BLOCKS * 64 {
                    let set = quotes[i / 64] >> (i % 64) & 1 == 1;
                    assert_eq!(set, line.get(i) == Some(&b'"'), "byte {i} of {line:?}");
                }
                assert_eq!(bits.control, line.iter().any(|&c| c < 0x20));
                assert_eq!(bits.backslash, line.contains(&b'\\'));
                assert_eq!(bits.ascii, line.is_ascii());
            }
        }
    }

    #[test]
    fn long_lines_and_lines_with_escapes_take_the_byte_scanner() {
        let (sk, _) = SealingKey::generate("k1", 4).unwrap();
        let mut sealer = Sealer::with_chain_id(sk, "c1").unwrap();
        for (len, escape) in [
            (10, false),
            (1800, false),
            (2200, false),
            (3000, true),
            (10, true),
        ] {
            let mut r = Record::new("a.b", Outcome::Success, std::time::UNIX_EPOCH).unwrap();
            let mut text = "x".repeat(len);
            if escape {
                text.push('"');
            }
            r.set_field("text", text);
            let line = sealer.seal(r).unwrap().line;
            let content = line.trim_end().as_bytes();
            let hop = hop_line(content);
            match hop {
                Hop::Sealed(_) => assert!(content.len() <= HOP_MAX_LINE && !escape),
                Hop::Unsupported => assert!(content.len() > HOP_MAX_LINE || escape),
                Hop::Refused => panic!("a sealed line refused"),
            }
            assert!(check(content), "{len} {escape}");
        }
    }

    #[test]
    fn sealed_lines_take_the_fast_path_and_agree() {
        // Lines with a key that needs escapes (the text is also used as a field name)
        // take the general path; all others are fast.
        let escaped_key = [false, false, true, true, false, true, false];
        for (line, escaped) in sealed_lines().iter().zip(escaped_key) {
            assert_eq!(check(line.as_bytes()), !escaped, "{line}");
        }
    }

    #[test]
    fn non_canonical_or_unsealed_lines_are_refused() {
        let line = sealed_lines().pop().unwrap();
        let bad = [
            line.replacen('{', "{ ", 1),
            line.replacen("\"v\":1", "\"v\":2", 1),
            line.replacen("\"v\":1", "\"v\":1.0", 1),
            line.replacen("\"seq\":", "\"seq\":-", 1),
            line.replacen("\"seq\":", "\"seq\":0", 1),
            line.replacen("\"kid\":\"k-1.a_b\"", "\"kid\":\"k 1\"", 1),
            line.replacen("\"kid\":\"k-1.a_b\"", "\"kid\":\"k\\u0041\"", 1),
            line.replacen("\"action\":\"a.b\"", "\"action\":\"a\\/b\"", 1),
            line.replacen("\"action\":\"a.b\"", "\"action\":\"a\\u000ab\"", 1),
            line.replacen("\"action\":\"a.b\"", "\"action\":\"a\\u001Fb\"", 1),
            line.replacen("\"action\":\"a.b\"", "\"action\":\"a\u{1}b\"", 1),
            line.replacen("\"event\":{", "\"event\":{\"action\":\"x\",", 1),
            line.replacen("{\"@timestamp\"", "{\"audit\":1,\"@timestamp\"", 1),
            line.replacen("\"audit\":{", "\"audit\":{\"a\":1,", 1),
            line.replacen("\"prev\":\"", "\"prev\":\"A", 1),
            line.clone() + " ",
            line[..line.len() - 1].to_owned(),
        ];
        for b in bad {
            assert!(scan_line(format!("{b}\n").as_bytes()).is_none(), "{b}");
            assert!(!check(b.as_bytes()));
        }
        let deep = line.replacen(
            "\"event\":{",
            &format!(
                "\"deep\":{}0{},\"event\":{{",
                "[".repeat(40),
                "]".repeat(40)
            ),
            1,
        );
        assert!(scan_line(format!("{deep}\n").as_bytes()).is_none());
        assert!(general(deep.as_bytes()).is_some());
    }

    #[test]
    fn mutated_lines_are_never_wrongly_accepted() {
        // Soundness under random edits: every mutant the fast path accepts, the general
        // path accepts identically (most mutants are refused by both).
        let lines = sealed_lines();
        let alphabet: &[u8] = b"\"\\{}[],:0123456789-.eEabcfnrtu \x00\x01\x1f\x7f\xc3\xa9\xff/";
        // Half the rounds without backslashes, so that the hopper (which leaves lines with
        // escapes to the byte-wise scanner) sees as many mutants as possible.
        let no_backslash: &[u8] = b"\"{}[],:0123456789-.eEabcfnrtu \x00\x01\x1f\x7f\xc3\xa9\xff/";
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut accepted = 0;
        for round in 0..60_000 {
            let mut line = lines[round % lines.len()].as_bytes().to_vec();
            let alphabet = if round % 2 == 0 {
                alphabet
            } else {
                no_backslash
            };
            for _ in 0..(1 + next() % 3) {
                let at = (next() as usize) % (line.len() + 1);
                let c = alphabet[(next() as usize) % alphabet.len()];
                match next() % 3 {
                    0 if at < line.len() => line[at] = c,
                    1 => line.insert(at, c),
                    _ if at < line.len() => {
                        line.remove(at);
                    }
                    _ => {}
                }
            }
            if check(&line) {
                accepted += 1;
            }
        }
        assert!(
            accepted > 100,
            "some mutants are still valid records: {accepted}"
        );
    }
}
