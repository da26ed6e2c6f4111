//! The Merkle tree of RFC 9162 §2.1 (the same as RFC 6962): hashes, tree heads, inclusion
//! and consistency proofs, and their verification.
//!
//! Trees are read through [`Nodes`], which answers the hash of any *complete* subtree
//! (`2^level` leaves starting at `index * 2^level`). A store keeps those hashes, so a head or
//! a proof for a tree of `n` leaves costs O(log² n) lookups, not O(n) hashing.

use sha2::{Digest, Sha256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The head of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Hashes of complete subtrees: `node(level, index)` covers leaves
/// `index * 2^level .. (index + 1) * 2^level`. `None` when unknown.
pub trait Nodes {
    /// The hash, or `None` if the store does not have it.
    fn node(&self, level: u32, index: u64) -> Option<Hash>;
}

/// All nodes computed from leaf hashes held in memory (tests, verification from scratch).
pub struct InMemory {
    levels: Vec<Vec<Hash>>,
}

impl InMemory {
    /// Builds every complete subtree over `leaves` (leaf hashes).
    pub fn new(leaves: Vec<Hash>) -> InMemory {
        let mut levels = vec![leaves];
        while let Some(last) = levels.last() {
            if last.len() < 2 {
                break;
            }
            let next: Vec<Hash> = last
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        InMemory { levels }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }
}

impl Nodes for InMemory {
    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        self.levels
            .get(level as usize)?
            .get(usize::try_from(index).ok()?)
            .copied()
    }
}

/// The tree being built one leaf at a time, kept as the hashes of its complete subtrees
/// largest first (one per bit set in the size): heads of any prefix in O(log n) memory, for
/// checking a journal of any length in one pass.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    size: u64,
    /// `(level, hash)` of each complete subtree, left to right (levels strictly decreasing).
    subtrees: Vec<(u32, Hash)>,
}

impl Frontier {
    /// Adds the next leaf, by its [`leaf_hash`].
    pub fn push(&mut self, leaf: Hash) {
        let (mut level, mut hash) = (0u32, leaf);
        while let Some(&(l, left)) = self.subtrees.last() {
            if l != level {
                break;
            }
            self.subtrees.pop();
            hash = node_hash(&left, &hash);
            level += 1;
        }
        self.subtrees.push((level, hash));
        self.size += 1;
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree head of the leaves so far (RFC 9162 §2.1.1): the subtrees joined right to left.
    pub fn root(&self) -> Hash {
        let mut it = self.subtrees.iter().rev();
        let Some(&(_, mut acc)) = it.next() else {
            return empty_root();
        };
        for (_, left) in it {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// Largest power of two strictly less than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Why a head or proof could not be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeError {
    /// A node the computation needs is missing: the store lost part of the tree.
    MissingNode {
        /// Level of the complete subtree.
        level: u32,
        /// Its index.
        index: u64,
    },
    /// The request does not fit the tree (index beyond the size, old size > new size).
    OutOfRange,
}

/// MTH over leaves `start .. start + n` (RFC 9162 §2.1.1), from complete-subtree hashes.
fn subtree(nodes: &impl Nodes, start: u64, n: u64) -> Result<Hash, TreeError> {
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        let index = start >> level;
        return nodes
            .node(level, index)
            .ok_or(TreeError::MissingNode { level, index });
    }
    let k = split(n);
    let left = subtree(nodes, start, k)?;
    let right = subtree(nodes, start + k, n - k)?;
    Ok(node_hash(&left, &right))
}

/// The tree head (root hash) for the first `size` leaves.
pub fn root(nodes: &impl Nodes, size: u64) -> Result<Hash, TreeError> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree(nodes, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1).
pub fn inclusion_proof(nodes: &impl Nodes, index: u64, size: u64) -> Result<Vec<Hash>, TreeError> {
    if index >= size {
        return Err(TreeError::OutOfRange);
    }
    let mut path = Vec::new();
    // PATH(m, D[start:start+n]), iteratively, collecting siblings top-down, then reversed.
    let (mut start, mut n, mut m) = (0u64, size, index);
    while n > 1 {
        let k = split(n);
        if m < k {
            path.push(subtree(nodes, start + k, n - k)?);
            n = k;
        } else {
            path.push(subtree(nodes, start, k)?);
            start += k;
            m -= k;
            n -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof between the trees of `old` and `new` leaves (RFC 9162 §2.1.4.1).
pub fn consistency_proof(nodes: &impl Nodes, old: u64, new: u64) -> Result<Vec<Hash>, TreeError> {
    if old > new {
        return Err(TreeError::OutOfRange);
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut proof = Vec::new();
    // SUBPROOF(m, D[start:start+n], b)
    let (mut start, mut n, mut m, mut complete) = (0u64, new, old, true);
    loop {
        if m == n {
            if !complete {
                proof.push(subtree(nodes, start, n)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            proof.push(subtree(nodes, start + k, n - k)?);
            n = k;
        } else {
            proof.push(subtree(nodes, start, k)?);
            start += k;
            m -= k;
            n -= k;
            complete = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *old_root && sr == *new_root && sn == 0
}

/// The complete subtrees that become known when leaf `index` (0-based) is appended:
/// `(level, node index)` for every level ≥ 1 it completes, lowest first; each node's right
/// child is the one completed just before it (at first, the leaf). A store appends the leaf
/// hash at level 0, then these, in one transaction.
pub fn completed_by(index: u64) -> impl Iterator<Item = (u32, u64)> {
    let mut level = 1u32;
    std::iter::from_fn(move || {
        let width = 1u64.checked_shl(level)?;
        if (index + 1).is_multiple_of(width) {
            let out = (level, index >> level);
            level += 1;
            Some(out)
        } else {
            None
        }
    })
}

/// Where the complete subtree `(level, index)` sits when nodes are kept in the order appends
/// create them (each leaf, then the nodes it completes, lowest first): a store keyed by this
/// position writes one commit's nodes next to each other. `None` for a node no tree of at
/// most 2⁶² leaves has.
pub fn tree_position(level: u32, index: u64) -> Option<i64> {
    // The subtree's last leaf completes it; `2n - popcount(n)` nodes precede leaf n's own
    // (every complete subtree of the first n leaves), and leaf n then completes levels 1, 2, …
    let width = 1u64.checked_shl(level)?;
    let last = index.checked_add(1)?.checked_mul(width)? - 1;
    let before = last.checked_mul(2)? - u64::from(last.count_ones());
    i64::try_from(before.checked_add(u64::from(level))?).ok()
}

/// The nodes appending leaf `index` (hash `leaf`) adds, as `(tree_position, hash)`, the
/// leaf's own first. Reads only the left siblings of the nodes it completes, from `nodes`.
pub fn appended(nodes: &impl Nodes, index: u64, leaf: Hash) -> Result<Vec<(i64, Hash)>, TreeError> {
    let pos = |level: u32, i: u64| tree_position(level, i).ok_or(TreeError::OutOfRange);
    let mut out = vec![(pos(0, index)?, leaf)];
    // Each completed node's right child is the node completed just below it (at first, the
    // leaf): only its left sibling has to be read.
    let mut right = leaf;
    for (level, i) in completed_by(index) {
        let left = nodes.node(level - 1, 2 * i).ok_or(TreeError::MissingNode {
            level: level - 1,
            index: 2 * i,
        })?;
        right = node_hash(&left, &right);
        out.push((pos(level, i)?, right));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_positions_follow_the_order_appends_create_nodes() {
        let mut expected = 0i64;
        for leaf in 0..5000u64 {
            assert_eq!(tree_position(0, leaf), Some(expected), "leaf {leaf}");
            expected += 1;
            for (level, i) in completed_by(leaf) {
                assert_eq!(tree_position(level, i), Some(expected), "node {level}/{i}");
                expected += 1;
            }
        }
        assert_eq!(tree_position(64, 0), None);
        assert_eq!(tree_position(0, u64::MAX), None);
        assert_eq!(tree_position(40, 1 << 30), None);
    }

    /// Nodes kept by position, as a store keeps them.
    struct ByPosition(std::collections::HashMap<i64, Hash>);

    impl Nodes for ByPosition {
        fn node(&self, level: u32, index: u64) -> Option<Hash> {
            self.0.get(&tree_position(level, index)?).copied()
        }
    }

    #[test]
    fn appending_builds_the_same_tree_as_hashing_it_whole() {
        let leaves: Vec<Hash> = (0..77u8).map(|i| leaf_hash(&[i])).collect();
        let mut kept = ByPosition(Default::default());
        for (i, leaf) in leaves.iter().enumerate() {
            for (pos, h) in appended(&kept, i as u64, *leaf).unwrap() {
                assert!(
                    kept.0.insert(pos, h).is_none(),
                    "position {pos} written twice"
                );
            }
        }
        let whole = InMemory::new(leaves);
        for size in [1, 2, 3, 31, 32, 33, 64, 77] {
            assert_eq!(root(&kept, size).unwrap(), root(&whole, size).unwrap());
        }
        let empty = ByPosition(Default::default());
        assert!(matches!(
            appended(&empty, 1, leaf_hash(b"x")),
            Err(TreeError::MissingNode { level: 0, index: 0 })
        ));
    }
}
