//! The byte formats a pack file needs: SHA-1 (pack and index checksums), CRC-32 (index entries),
//! and zlib streams (object contents; RFC 1950 around RFC 1951 deflate).
//!
//! The compressor is a fast single-pass one: LZ77 over a 32 KiB window with one candidate per
//! 4-byte hash, greedy matches, fixed Huffman codes, and stored blocks when that would not be
//! smaller. Rendered YAML shrinks to about a quarter; any inflater reads the streams (zlib,
//! libgit2, Git), and `git gc` may recompress them harder later.

use sha1::Digest as _;

/// SHA-1, streaming: the pack and index checksums, as Git writes them (RustCrypto's `sha1`,
/// with the CPU's SHA instructions where it has them). Object ids are hashed by libgit2, with
/// collision detection.
pub(super) struct Sha1(sha1::Sha1);

impl Sha1 {
    pub(super) fn new() -> Self {
        Sha1(sha1::Sha1::new())
    }

    pub(super) fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub(super) fn finish(self) -> [u8; 20] {
        self.0.finalize().into()
    }
}

/// CRC-32 (IEEE 802.3, as zlib and the pack index use it).
pub(super) fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// Adler-32, the zlib trailer.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    // The largest n with 255 n (n + 1) / 2 + (n + 1) (MOD - 1) < 2^32.
    const NMAX: usize = 5552;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(NMAX) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// Writes bits least significant first, as deflate packs them.
struct Bits<'o> {
    out: &'o mut Vec<u8>,
    acc: u64,
    used: u32,
}

impl Bits<'_> {
    #[inline]
    fn put(&mut self, value: u32, len: u32) {
        self.acc |= u64::from(value) << self.used;
        self.used += len;
        if self.used >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.used -= 32;
        }
    }

    fn finish(self) {
        let mut acc = self.acc;
        let mut used = self.used;
        while used > 0 {
            self.out.push(acc as u8);
            acc >>= 8;
            used = used.saturating_sub(8);
        }
    }
}

const fn reverse(code: u32, len: u32) -> u32 {
    code.reverse_bits() >> (32 - len)
}

/// Fixed Huffman code (bit-reversed, ready for [`Bits::put`]) and length of each literal/length
/// symbol (RFC 1951 3.2.6).
const fn literal_codes() -> [(u16, u8); 288] {
    let mut t = [(0u16, 0u8); 288];
    let mut s = 0;
    while s < 288 {
        let (code, len) = match s {
            0..=143 => (0x30 + s as u32, 8),
            144..=255 => (0x190 + (s as u32 - 144), 9),
            256..=279 => (s as u32 - 256, 7),
            _ => (0xC0 + (s as u32 - 280), 8),
        };
        t[s] = (reverse(code, len) as u16, len as u8);
        s += 1;
    }
    t
}

static LITERAL_CODES: [(u16, u8); 288] = literal_codes();

const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DISTANCE_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Length code index (0..29) of each match length 3..=258, at `length - 3`.
const fn length_codes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut code = 0;
    let mut len = 3;
    while len <= 258 {
        while code + 1 < 29 && LENGTH_BASE[code + 1] as usize <= len {
            code += 1;
        }
        t[len - 3] = code as u8;
        len += 1;
    }
    t
}

static LENGTH_CODES: [u8; 256] = length_codes();

fn distance_code(distance: usize) -> usize {
    DISTANCE_BASE.partition_point(|&b| b as usize <= distance) - 1
}

const WINDOW: usize = 32 * 1024;
const MIN_MATCH: usize = 4;
const MAX_MATCH: usize = 258;
const HASH_BITS: u32 = 15;

/// Compresses one stream after another, reusing its match table.
pub(super) struct Deflater {
    /// Per hash of 4 bytes: `origin + position + 1` of the last place seen, 0 for none.
    table: Vec<u32>,
    /// Added to positions so entries of earlier streams read as out of range.
    origin: u32,
}

impl Deflater {
    pub(super) fn new() -> Self {
        Deflater {
            table: vec![0; 1 << HASH_BITS],
            origin: 0,
        }
    }

    #[inline]
    fn hash(data: &[u8], i: usize) -> usize {
        let v = u32::from_le_bytes(data[i..i + 4].try_into().expect("4 bytes"));
        (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
    }

    /// Appends the zlib stream of `data` to `out`.
    pub(super) fn zlib(&mut self, data: &[u8], out: &mut Vec<u8>) {
        // Fastest-level header: deflate, 32 KiB window, no dictionary.
        out.extend_from_slice(&[0x78, 0x01]);
        let start = out.len();
        self.deflate_fixed(data, out);
        // Stored blocks when the codes do not pay (tiny or incompressible data).
        let stored_len = data.len() + 5 * data.len().div_ceil(0xffff).max(1);
        if out.len() - start > stored_len {
            out.truncate(start);
            deflate_stored(data, out);
        }
        out.extend_from_slice(&adler32(data).to_be_bytes());
    }

    fn deflate_fixed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if data.len() > (u32::MAX as usize) / 2 - WINDOW {
            // Positions would not fit the table; such objects do not occur in a layout.
            return deflate_stored(data, out);
        }
        if (self.origin as usize) + data.len() + 1 >= u32::MAX as usize {
            self.table.fill(0);
            self.origin = 0;
        }
        let origin = self.origin;
        let mut bits = Bits {
            out,
            acc: 0,
            used: 0,
        };
        bits.put(1, 1); // final block
        bits.put(1, 2); // fixed Huffman codes
        let n = data.len();
        let mut i = 0;
        while i + MIN_MATCH <= n {
            let h = Self::hash(data, i);
            let seen = self.table[h];
            self.table[h] = origin + i as u32 + 1;
            let candidate = (seen as usize).wrapping_sub(origin as usize + 1);
            if seen > origin && candidate < i && i - candidate <= WINDOW && {
                data[candidate..candidate + MIN_MATCH] == data[i..i + MIN_MATCH]
            } {
                let limit = (n - i).min(MAX_MATCH);
                let mut len = MIN_MATCH;
                while len < limit && data[candidate + len] == data[i + len] {
                    len += 1;
                }
                put_match(&mut bits, len, i - candidate);
                // Index the positions the match covers, so later text can refer into it.
                let end = (i + len).min(n.saturating_sub(MIN_MATCH - 1));
                for j in i + 1..end {
                    self.table[Self::hash(data, j)] = origin + j as u32 + 1;
                }
                i += len;
            } else {
                let (code, len) = LITERAL_CODES[data[i] as usize];
                bits.put(u32::from(code), u32::from(len));
                i += 1;
            }
        }
        for &b in &data[i..] {
            let (code, len) = LITERAL_CODES[b as usize];
            bits.put(u32::from(code), u32::from(len));
        }
        let (code, len) = LITERAL_CODES[256];
        bits.put(u32::from(code), u32::from(len));
        bits.finish();
        self.origin = origin + n as u32 + 1;
    }
}

#[inline]
fn put_match(bits: &mut Bits<'_>, len: usize, distance: usize) {
    let lc = LENGTH_CODES[len - 3] as usize;
    let (code, code_len) = LITERAL_CODES[257 + lc];
    bits.put(u32::from(code), u32::from(code_len));
    let extra = u32::from(LENGTH_EXTRA[lc]);
    if extra > 0 {
        bits.put((len - LENGTH_BASE[lc] as usize) as u32, extra);
    }
    let dc = distance_code(distance);
    bits.put(reverse(dc as u32, 5), 5);
    let extra = u32::from(DISTANCE_EXTRA[dc]);
    if extra > 0 {
        bits.put((distance - DISTANCE_BASE[dc] as usize) as u32, extra);
    }
}

/// Deflate stored blocks (no compression), at most 65,535 bytes each.
fn deflate_stored(data: &[u8], out: &mut Vec<u8>) {
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
        return;
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        out.push(u8::from(last));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn sha1(data: &[u8]) -> String {
        let mut h = Sha1::new();
        h.update(data);
        hex(&h.finish())
    }

    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(sha1(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            sha1(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            sha1(&vec![b'a'; 1_000_000]),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
        // Fed in pieces that straddle block boundaries.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut h = Sha1::new();
        for piece in data.chunks(37) {
            h.update(piece);
        }
        assert_eq!(hex(&h.finish()), sha1(&data));
    }

    #[test]
    fn sha1_agrees_with_git_object_ids() {
        for data in [&b""[..], b"hello\n", &[7u8; 200][..]] {
            let mut h = Sha1::new();
            h.update(format!("blob {}\0", data.len()).as_bytes());
            h.update(data);
            let id = git2::Oid::hash_object(git2::ObjectType::Blob, data).unwrap();
            assert_eq!(hex(&h.finish()), id.to_string());
        }
    }

    #[test]
    fn crc32_and_adler32_match_known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let big = vec![0xffu8; 100_000];
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &big {
            a = (a + u64::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(adler32(&big), ((b << 16) | a) as u32);
    }

    #[test]
    fn length_and_distance_codes_cover_their_ranges() {
        for len in 3..=258usize {
            let c = LENGTH_CODES[len - 3] as usize;
            let base = LENGTH_BASE[c] as usize;
            assert!(base <= len && len - base < (1 << LENGTH_EXTRA[c]), "{len}");
        }
        for d in 1..=WINDOW {
            let c = distance_code(d);
            let base = DISTANCE_BASE[c] as usize;
            assert!(base <= d && d - base < (1 << DISTANCE_EXTRA[c]), "{d}");
        }
    }
}
