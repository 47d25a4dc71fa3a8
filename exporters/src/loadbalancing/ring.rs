//! Consistent hashing: each backend owns 100 points on a 64-bit ring; a key goes to the
//! owner of the first point at or after its hash. Adding or removing a backend moves only
//! the keys between its points and their predecessors (about 1/n of them).

const POINTS_PER_BACKEND: u32 = 100;

pub struct Ring {
    /// (point, backend index), sorted.
    points: Vec<(u64, usize)>,
}

impl Ring {
    pub fn new(endpoints: &[&str]) -> Ring {
        let mut points: Vec<(u64, usize)> = endpoints
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                (0..POINTS_PER_BACKEND).map(move |p| (hash(format!("{e}#{p}").as_bytes()), i))
            })
            .collect();
        points.sort_unstable();
        Ring { points }
    }

    /// The backend index for a key hash (`None` with no backends).
    pub fn get(&self, key: u64) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let i = self.points.partition_point(|(p, _)| *p < key);
        Some(self.points[i % self.points.len()].1)
    }
}

/// FNV-1a 64 with a final mix (so nearby inputs spread over the ring).
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_a_backend_moves_only_its_keys_and_spreads_evenly() {
        let three = Ring::new(&["a:4317", "b:4317", "c:4317"]);
        let two = Ring::new(&["a:4317", "b:4317"]);
        let keys: Vec<u64> = (0u64..30_000).map(|k| hash(&k.to_le_bytes())).collect();
        let mut per = [0usize; 3];
        let mut moved = 0;
        for k in &keys {
            let before = three.get(*k).expect("backend");
            per[before] += 1;
            let after = two.get(*k).expect("backend");
            if before != 2 {
                // a and b keep the same indices in both rings.
                if before != after {
                    moved += 1;
                }
            }
        }
        assert_eq!(
            moved, 0,
            "keys of the remaining backends stay where they were"
        );
        for n in per {
            assert!((7_000..13_000).contains(&n), "uneven: {per:?}");
        }
        assert_eq!(Ring::new(&[]).get(1), None);
    }
}
