//! The entropy-coded data of a baseline JPEG (ITU T.81, annex C and F.2.2): Huffman tables with
//! a 9-bit lookahead, a bit reader that takes eight bytes at a time when none of them is 0xFF,
//! and the decoding of one 8x8 block of dequantised coefficients.
//!
//! The lookahead is where the time goes: most codes are 9 bits or shorter, and for AC tables
//! the lookahead also holds the whole coefficient (run, value, code and extra bits together)
//! when it fits, so the common case is one table read per coefficient.

use super::Error;

/// Bits the lookahead tables are indexed by.
const LOOKAHEAD: u32 = 9;

/// Natural (row-major) position of the `k`th coefficient in zig-zag order.
const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// One Huffman table (a DHT segment's `Tc`/`Th` entry).
pub(super) struct Table {
    /// By the next [`LOOKAHEAD`] bits: `code length << 8 | symbol`, 0 when the code is longer.
    fast: [u16; 1 << LOOKAHEAD],
    /// By the next [`LOOKAHEAD`] bits, for AC tables: a whole coefficient when its code and
    /// extra bits fit, as `value << 8 | run << 4 | bits used`; 0 otherwise.
    fast_ac: [i16; 1 << LOOKAHEAD],
    /// For code length `l`: one past its largest code, left-aligned to 16 bits; index 17 is a
    /// sentinel no 16-bit value reaches.
    max_code: [u32; 18],
    /// For code length `l`: index in `symbols` of its first code, minus that code.
    offset: [i32; 17],
    symbols: Vec<u8>,
}

impl Table {
    /// Builds a table from the 16 code-length counts and the symbols of a DHT segment.
    pub(super) fn new(counts: &[u8; 16], symbols: &[u8]) -> Result<Self, Error> {
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total != symbols.len() || total > 256 {
            return Err(Error::Corrupt("Huffman table sizes disagree"));
        }
        let mut table = Table {
            fast: [0; 1 << LOOKAHEAD],
            fast_ac: [0; 1 << LOOKAHEAD],
            max_code: [0; 18],
            offset: [0; 17],
            symbols: symbols.to_vec(),
        };
        let (mut code, mut index) = (0u32, 0usize);
        for len in 1..=16u32 {
            let count = u32::from(counts[len as usize - 1]);
            table.offset[len as usize] = index as i32 - code as i32;
            for _ in 0..count {
                if code >= 1 << len {
                    return Err(Error::Corrupt("Huffman table has too many codes"));
                }
                if len <= LOOKAHEAD {
                    let first = (code << (LOOKAHEAD - len)) as usize;
                    let entry = (len as u16) << 8 | u16::from(symbols[index]);
                    table.fast[first..first + (1 << (LOOKAHEAD - len))].fill(entry);
                }
                code += 1;
                index += 1;
            }
            table.max_code[len as usize] = code << (16 - len);
            code <<= 1;
        }
        table.max_code[17] = u32::MAX;
        table.fill_fast_ac();
        Ok(table)
    }

    /// Precomputes the coefficients whose code and extra bits fit in the lookahead. Harmless
    /// for DC tables, which never read it.
    fn fill_fast_ac(&mut self) {
        for peek in 0..1usize << LOOKAHEAD {
            let entry = self.fast[peek];
            if entry == 0 {
                continue;
            }
            let len = u32::from(entry >> 8);
            let (run, size) = ((entry >> 4) & 15, u32::from(entry & 15));
            // size 0 is end-of-block or a run of 16 zeros; values over 7 bits do not fit an i8.
            if size == 0 || size > 7 || len + size > LOOKAHEAD {
                continue;
            }
            let bits = (peek >> (LOOKAHEAD - len - size)) as i32 & ((1 << size) - 1);
            let value = extend(bits, size);
            self.fast_ac[peek] = (value << 8) as i16 | (run << 4) as i16 | (len + size) as i16;
        }
    }

    /// Reads one Huffman-coded symbol.
    #[inline]
    fn decode(&self, reader: &mut BitReader) -> Result<u8, Error> {
        reader.fill();
        let entry = self.fast[reader.peek(LOOKAHEAD)];
        if entry != 0 {
            reader.consume(u32::from(entry >> 8));
            return Ok(entry as u8);
        }
        let top = reader.peek(16) as u32;
        let mut len = LOOKAHEAD as usize + 1;
        while top >= self.max_code[len] {
            len += 1;
        }
        if len > 16 {
            return Err(Error::Corrupt("invalid Huffman code"));
        }
        reader.consume(len as u32);
        let index = (top >> (16 - len)) as i32 + self.offset[len];
        usize::try_from(index)
            .ok()
            .and_then(|i| self.symbols.get(i).copied())
            .ok_or(Error::Corrupt("invalid Huffman code"))
    }
}

/// The signed value of `size` extra bits (T.81 F.2.2.1, `EXTEND`).
#[inline]
fn extend(bits: i32, size: u32) -> i32 {
    if bits < 1 << (size - 1) {
        bits - (1 << size) + 1
    } else {
        bits
    }
}

/// True when any byte of `word` is 0xFF.
#[inline]
fn has_ff_byte(word: u64) -> bool {
    let inverted = !word;
    inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080 != 0
}

/// Bits of entropy-coded data, most significant first, with byte stuffing removed. At a
/// marker or the end of the data it supplies zero bits and counts them, so reading past the
/// real data is detected ([`BitReader::overran`]) instead of panicking.
pub(super) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Unread bits, left-aligned.
    buffer: u64,
    bits: u32,
    /// Zero bits appended after the real data; they sit at the end of `buffer`.
    padding: u32,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
        BitReader {
            data,
            pos,
            buffer: 0,
            bits: 0,
            padding: 0,
        }
    }

    /// Tops the buffer up to at least 57 bits when fewer than 32 are left: enough for the
    /// longest code (16 bits) and its extra bits (at most 15).
    #[inline]
    fn fill(&mut self) {
        if self.bits >= 32 {
            return;
        }
        while self.bits <= 56 {
            if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                let word = u64::from_be_bytes(word);
                if !has_ff_byte(word) {
                    let take = (64 - self.bits) / 8;
                    self.buffer |= (word >> (64 - 8 * take)) << (64 - self.bits - 8 * take);
                    self.bits += 8 * take;
                    self.pos += take as usize;
                    return;
                }
            }
            self.fill_byte();
        }
    }

    /// Takes one byte, undoing 0xFF 0x00 stuffing; at a marker or the end, a zero byte.
    fn fill_byte(&mut self) {
        let byte = match self.data.get(self.pos) {
            Some(0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                self.pos += 2;
                0xFF
            }
            Some(&byte) if byte != 0xFF => {
                self.pos += 1;
                byte
            }
            _ => {
                self.padding += 8;
                0
            }
        };
        self.buffer |= u64::from(byte) << (56 - self.bits);
        self.bits += 8;
    }

    #[inline]
    fn peek(&self, count: u32) -> usize {
        (self.buffer >> (64 - count)) as usize
    }

    #[inline]
    fn consume(&mut self, count: u32) {
        self.buffer <<= count;
        self.bits -= count;
    }

    /// Reads `size` (1..=15) extra bits as a signed value.
    #[inline]
    fn receive_extend(&mut self, size: u32) -> i32 {
        self.fill();
        let bits = self.peek(size) as i32;
        self.consume(size);
        extend(bits, size)
    }

    /// True once bits beyond the real data (past a marker or the end of the file) were used.
    pub(super) fn overran(&self) -> bool {
        self.bits < self.padding
    }

    /// Drops the bits left of the current byte and any bytes read ahead, as at a restart
    /// marker or the end of the scan; returns the position after the real bytes taken.
    pub(super) fn align(&mut self) -> usize {
        self.buffer = 0;
        self.bits = 0;
        self.padding = 0;
        self.pos
    }

    pub(super) fn seek(&mut self, pos: usize) {
        self.align();
        self.pos = pos;
    }
}

/// Decodes one block into `out` (natural order, dequantised by `quant`, given in zig-zag
/// order). `predictor` is the component's running DC value.
#[inline]
pub(super) fn decode_block(
    reader: &mut BitReader,
    dc: &Table,
    ac: &Table,
    quant: &[u16; 64],
    predictor: &mut i32,
    out: &mut [i32; 64],
) -> Result<(), Error> {
    out.fill(0);
    let size = dc.decode(reader)?;
    if size > 15 {
        return Err(Error::Corrupt("DC difference too large"));
    }
    if size > 0 {
        *predictor = predictor.wrapping_add(reader.receive_extend(u32::from(size)));
    }
    out[0] = predictor.wrapping_mul(i32::from(quant[0]));
    let mut k = 1usize;
    while k < 64 {
        reader.fill();
        let fast = ac.fast_ac[reader.peek(LOOKAHEAD)];
        let (run, value) = if fast != 0 {
            reader.consume((fast & 15) as u32);
            (((fast >> 4) & 15) as usize, i32::from(fast >> 8))
        } else {
            let symbol = ac.decode(reader)?;
            let (run, size) = (usize::from(symbol >> 4), u32::from(symbol & 15));
            if size == 0 {
                if run != 15 {
                    break; // end of block
                }
                k += 16;
                continue;
            }
            (run, reader.receive_extend(size))
        };
        k += run;
        let Some(&position) = ZIGZAG.get(k) else {
            return Err(Error::Corrupt("coefficient run past the block"));
        };
        out[usize::from(position)] = value.wrapping_mul(i32::from(quant[k]));
        k += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table in which symbol `i` has the `i`th code of the standard's canonical order.
    fn table(counts: [u8; 16], symbols: &[u8]) -> Table {
        Table::new(&counts, symbols).expect("valid table")
    }

    #[test]
    fn canonical_codes_decode_short_and_long() {
        // Lengths: 2, 2, 3, then twelve-bit codes past the lookahead.
        let mut counts = [0u8; 16];
        counts[1] = 2;
        counts[2] = 1;
        counts[11] = 2;
        let t = table(counts, &[0xA, 0xB, 0xC, 0xD, 0xE]);
        // Codes: A=00, B=01, C=100, D=1010_0000_0000, E=1010_0000_0001.
        let data = [0b0001_1001u8, 0b0100_0000, 0b0001_0100, 0b0000_0010];
        let mut r = BitReader::new(&data, 0);
        let got: Vec<u8> = (0..5).map(|_| t.decode(&mut r).expect("symbol")).collect();
        assert_eq!(got, [0xA, 0xB, 0xC, 0xD, 0xE]);
        assert!(!r.overran());
    }

    #[test]
    fn an_unassigned_code_is_an_error_not_a_panic() {
        let mut counts = [0u8; 16];
        counts[0] = 1; // only the code 0
        let t = table(counts, &[7]);
        let data = [0xFFu8, 0x00];
        let mut r = BitReader::new(&data, 0);
        assert!(t.decode(&mut r).is_err());
    }

    #[test]
    fn overfull_tables_are_refused() {
        let mut counts = [0u8; 16];
        counts[0] = 3; // three 1-bit codes cannot exist
        assert!(Table::new(&counts, &[1, 2, 3]).is_err());
    }

    #[test]
    fn stuffed_bytes_are_data_and_markers_end_it() {
        let data = [0xFFu8, 0x00, 0x12, 0xFF, 0xD9];
        let mut r = BitReader::new(&data, 0);
        r.fill();
        assert_eq!(r.peek(16), 0xFF12);
        r.consume(16);
        assert!(!r.overran());
        r.consume(1);
        assert!(r.overran(), "a bit past the marker is padding");
        assert_eq!(r.align(), 3, "the reader stops at the marker");
    }

    #[test]
    fn extend_follows_the_standard() {
        assert_eq!(extend(0, 1), -1);
        assert_eq!(extend(1, 1), 1);
        assert_eq!(extend(0b00, 2), -3);
        assert_eq!(extend(0b10, 2), 2);
        assert_eq!(extend(0, 11), -2047);
    }
}
