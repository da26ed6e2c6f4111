//! Message sequence sets (`1,3:5,7:*`) for sequence numbers and UIDs.
//!
//! A set is stored as its ranges, never expanded, so `1:4294967295` costs a
//! few bytes. `*` is resolved against the caller's maximum (highest sequence
//! number or highest UID) when the set is used.

use std::fmt;

/// One end of a range: a non-zero number or `*` (the largest value in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    /// A non-zero number.
    Value(u32),
    /// `*`: the largest number in use in the mailbox.
    Last,
}

impl SeqNum {
    /// Resolves `*` to `max`.
    pub fn resolve(self, max: u32) -> u32 {
        match self {
            SeqNum::Value(v) => v,
            SeqNum::Last => max,
        }
    }
}

/// A range `a:b` (or a single number, where `start == end`). The ends may be
/// in either order: `5:1` is the same as `1:5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    /// First end as written.
    pub start: SeqNum,
    /// Second end as written.
    pub end: SeqNum,
}

impl SeqRange {
    /// Returns the range as `(low, high)` with `*` resolved to `max`.
    pub fn resolve(&self, max: u32) -> (u32, u32) {
        let a = self.start.resolve(max);
        let b = self.end.resolve(max);
        (a.min(b), a.max(b))
    }
}

/// A sequence set as sent by the client (`sequence-set` in RFC 9051).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet {
    ranges: Vec<SeqRange>,
    /// `$`: the session's saved search result (SEARCHRES, RFC 5182), which only the
    /// session can resolve; such a set has no ranges.
    saved: bool,
}

/// Error parsing a sequence set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSequenceSet;

impl fmt::Display for InvalidSequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid sequence set")
    }
}

impl std::error::Error for InvalidSequenceSet {}

fn parse_num(s: &[u8]) -> Result<SeqNum, InvalidSequenceSet> {
    if s == b"*" {
        return Ok(SeqNum::Last);
    }
    if s.is_empty() || s.len() > 10 || s.first() == Some(&b'0') {
        return Err(InvalidSequenceSet);
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return Err(InvalidSequenceSet);
        }
        v = v * 10 + u64::from(b - b'0');
    }
    u32::try_from(v)
        .map(SeqNum::Value)
        .map_err(|_| InvalidSequenceSet)
}

impl SequenceSet {
    /// Parses the wire form (`1,3:5,7:*`). Numbers must be non-zero and fit
    /// in 32 bits.
    pub fn parse(s: &[u8]) -> Result<Self, InvalidSequenceSet> {
        if s.is_empty() {
            return Err(InvalidSequenceSet);
        }
        if s == b"$" {
            return Ok(Self::saved());
        }
        let mut ranges = Vec::new();
        for item in s.split(|&b| b == b',') {
            let mut ends = item.splitn(2, |&b| b == b':');
            let first = parse_num(ends.next().unwrap_or_default())?;
            let second = match ends.next() {
                Some(e) => parse_num(e)?,
                None => first,
            };
            ranges.push(SeqRange {
                start: first,
                end: second,
            });
        }
        Ok(SequenceSet {
            ranges,
            saved: false,
        })
    }

    /// `$`, the saved search result (RFC 5182).
    pub fn saved() -> Self {
        SequenceSet {
            ranges: Vec::new(),
            saved: true,
        }
    }

    /// Whether this is `$`: the caller must substitute the saved search result.
    pub fn is_saved(&self) -> bool {
        self.saved
    }

    /// Builds a set from ranges; `None` if `ranges` is empty or holds a zero.
    pub fn from_ranges(ranges: Vec<SeqRange>) -> Option<Self> {
        let zero = |n: SeqNum| n == SeqNum::Value(0);
        if ranges.is_empty() || ranges.iter().any(|r| zero(r.start) || zero(r.end)) {
            return None;
        }
        Some(SequenceSet {
            ranges,
            saved: false,
        })
    }

    /// A set holding the single number `n` (which must be non-zero).
    pub fn single(n: u32) -> Option<Self> {
        Self::range(n, n)
    }

    /// A set holding `a:b` (both non-zero).
    pub fn range(a: u32, b: u32) -> Option<Self> {
        Self::from_ranges(vec![SeqRange {
            start: SeqNum::Value(a),
            end: SeqNum::Value(b),
        }])
    }

    /// The ranges as sent.
    pub fn ranges(&self) -> &[SeqRange] {
        &self.ranges
    }

    /// Sorted, merged, non-overlapping `(low, high)` ranges with `*` resolved
    /// to `max` and everything clamped to `1..=max`. Memory is proportional to
    /// the number of ranges written, not to the numbers they cover.
    pub fn resolved_ranges(&self, max: u32) -> Vec<(u32, u32)> {
        if max == 0 {
            return Vec::new();
        }
        let mut rs: Vec<(u32, u32)> = self
            .ranges
            .iter()
            .filter_map(|r| {
                let (lo, hi) = r.resolve(max);
                if lo > max {
                    None
                } else {
                    Some((lo.max(1), hi.min(max)))
                }
            })
            .collect();
        rs.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(rs.len());
        for (lo, hi) in rs {
            match merged.last_mut() {
                Some(last) if u64::from(lo) <= u64::from(last.1) + 1 => {
                    last.1 = last.1.max(hi);
                }
                _ => merged.push((lo, hi)),
            }
        }
        merged
    }

    /// Iterates the numbers of the set in ascending order, each once, with
    /// `*` meaning `max` and numbers above `max` left out. For UID sets this
    /// gives the RFC 9051 behaviour that `n:*` always includes the highest
    /// UID; callers should still intersect with the UIDs that exist rather
    /// than look up every number of a huge range.
    pub fn iter_resolved(&self, max: u32) -> impl Iterator<Item = u32> + use<> {
        self.resolved_ranges(max)
            .into_iter()
            .flat_map(|(lo, hi)| lo..=hi)
    }

    /// Whether `n` is in the set, with `*` meaning `max`.
    pub fn contains(&self, n: u32, max: u32) -> bool {
        self.ranges.iter().any(|r| {
            let (lo, hi) = r.resolve(max);
            (lo..=hi).contains(&n)
        })
    }

    /// Whether the set names an explicit number above `max` (for message
    /// sequence numbers this makes the command invalid).
    pub fn exceeds(&self, max: u32) -> bool {
        self.ranges.iter().any(|r| {
            [r.start, r.end]
                .iter()
                .any(|n| matches!(n, SeqNum::Value(v) if *v > max))
        })
    }

    /// Whether `*` occurs anywhere in the set.
    pub fn uses_last(&self) -> bool {
        self.ranges
            .iter()
            .any(|r| r.start == SeqNum::Last || r.end == SeqNum::Last)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqNum::Value(v) => write!(f, "{v}"),
            SeqNum::Last => f.write_str("*"),
        }
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.saved {
            return f.write_str("$");
        }
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.start == r.end {
                write!(f, "{}", r.start)?;
            } else {
                write!(f, "{}:{}", r.start, r.end)?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for SequenceSet {
    type Err = InvalidSequenceSet;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> SequenceSet {
        s.parse().unwrap()
    }

    #[test]
    fn parse_forms() {
        assert_eq!(set("1").ranges().len(), 1);
        assert_eq!(set("1:5,7,9:*").ranges().len(), 3);
        assert_eq!(set("*").ranges()[0].start, SeqNum::Last);
        assert_eq!(set("5:1").to_string(), "5:1");
        assert_eq!(set("3:*,1").to_string(), "3:*,1");
        for bad in [
            "",
            "0",
            "1:0",
            "a",
            "1,",
            ",1",
            "1::2",
            "4294967296",
            "01",
            "1:2:3",
            " 1",
        ] {
            assert!(SequenceSet::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(SequenceSet::parse(b"4294967295").is_ok());
    }

    #[test]
    fn resolve() {
        let v: Vec<u32> = set("5:1").iter_resolved(10).collect();
        assert_eq!(v, vec![1, 2, 3, 4, 5]);
        let v: Vec<u32> = set("3:*,1,2").iter_resolved(4).collect();
        assert_eq!(v, vec![1, 2, 3, 4]);
        let v: Vec<u32> = set("*").iter_resolved(7).collect();
        assert_eq!(v, vec![7]);
        // n:* with n above max still yields max (UID semantics)
        let v: Vec<u32> = set("559:*").iter_resolved(500).collect();
        assert_eq!(v, vec![500]);
        let v: Vec<u32> = set("8,9").iter_resolved(5).collect();
        assert!(v.is_empty());
        assert_eq!(set("1:*").iter_resolved(0).count(), 0);
        assert_eq!(
            set("2,2,1:3").iter_resolved(9).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn huge_range_is_lazy() {
        let s = set("1:4294967295");
        assert_eq!(s.resolved_ranges(u32::MAX), vec![(1, u32::MAX)]);
        assert_eq!(
            s.iter_resolved(u32::MAX).take(3).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(s.contains(4_000_000_000, 10));
    }

    #[test]
    fn contains_and_exceeds() {
        let s = set("2:4,10:*");
        assert!(s.contains(3, 20));
        assert!(s.contains(20, 20));
        assert!(!s.contains(5, 20));
        assert!(s.contains(7, 7)); // 10:* with max 7 is 7:10
        assert!(s.exceeds(9));
        assert!(!s.exceeds(10));
        assert!(s.uses_last());
        assert!(!set("1").uses_last());
    }
}
