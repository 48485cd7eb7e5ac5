//! Variable-length integers: small numbers (the usual change of RSS or CPU between two
//! ticks) take one or two bytes.

/// Appends `n` as a LEB128 varint.
pub fn put(out: &mut Vec<u8>, mut n: u128) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A signed change, zigzag-encoded so that small negative numbers stay small.
pub fn put_delta(out: &mut Vec<u8>, from: u64, to: u64) {
    put(out, zigzag(i128::from(to) - i128::from(from)));
}

pub fn zigzag(d: i128) -> u128 {
    ((d << 1) ^ (d >> 127)) as u128
}

pub fn unzigzag(z: u128) -> i128 {
    ((z >> 1) as i128) ^ -((z & 1) as i128)
}

/// Reads what [`put`] and [`put_delta`] wrote; a short buffer reads as zeros (the
/// buffer is only ever written by this module, so that cannot happen in practice).
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        Reader { data, pos }
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn get(&mut self) -> u128 {
        let mut n: u128 = 0;
        for shift in (0..128).step_by(7) {
            let b = self.byte();
            n |= u128::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
        }
        n
    }

    /// Applies a change written by [`put_delta`] to `from`.
    pub fn delta(&mut self, from: u64) -> u64 {
        (i128::from(from) + unzigzag(self.get())) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_extremes_and_small_numbers_are_short() {
        let mut out = Vec::new();
        let values = [0u128, 1, 127, 128, 300, u128::from(u64::MAX), u128::MAX];
        for v in values {
            put(&mut out, v);
        }
        let pairs = [(0u64, 0u64), (10, 3), (3, 10), (0, u64::MAX), (u64::MAX, 0)];
        for (a, b) in pairs {
            put_delta(&mut out, a, b);
        }
        let mut r = Reader::new(&out, 0);
        for v in values {
            assert_eq!(r.get(), v);
        }
        for (a, b) in pairs {
            assert_eq!(r.delta(a), b);
        }

        let mut short = Vec::new();
        put_delta(&mut short, 5000, 5012);
        put_delta(&mut short, 5012, 4990);
        assert_eq!(short.len(), 2, "changes under 64 take a byte each");
    }
}
