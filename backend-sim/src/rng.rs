//! A tiny seeded xorshift64* generator: MACs, DAD delays and fault probabilities are
//! reproducible from the kernel's seed.

#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        // splitmix64 of the seed so that 0 and small seeds still give a good state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// A uniform float in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `eth_random_addr`: random bytes, I/G bit cleared, U/L (locally administered) bit set.
    pub(crate) fn mac(&mut self) -> nsplumb_core::MacAddr {
        let v = self.next_u64().to_le_bytes();
        let mut m = [v[0], v[1], v[2], v[3], v[4], v[5]];
        m[0] &= 0xfe;
        m[0] |= 0x02;
        nsplumb_core::MacAddr(m)
    }
}
