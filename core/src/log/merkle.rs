//! RFC 6962 Merkle tree math (RFC 9162 §2.1): hashes, an append-only compact tree, inclusion and
//! consistency proofs, and their verifiers. No storage: proofs read hashes through [`HashReader`].
//!
//! Trees are the RFC's: for `n > 1` leaves the root is `node_hash(MTH(D[0:k]), MTH(D[k:n]))` with
//! `k` the largest power of two below `n`. The same tree can be seen as perfect subtrees of `2^l`
//! leaves, each named by a [`NodeId`] `(level l, index i)` and covering leaves `[i·2^l, (i+1)·2^l)`,
//! plus "ephemeral" nodes along the right edge that exist only at the tree's current size. This
//! module works in that view (as compact ranges do); the RFC's recursive definitions are applied
//! literally by `core/tests/vectors/access-log/generate.py`, and the tests check that both agree.

use core::fmt;

use ring::digest;

/// A SHA-256 hash: a leaf hash, a node hash or a root.
pub type Hash = [u8; 32];

/// The root of the empty tree, `SHA-256()` (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27,
    0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The leaf hash of `entry`: `SHA-256(0x00 || entry)` (RFC 9162 §2.1.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[0x00]);
    ctx.update(entry);
    finish(ctx)
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)` (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[0x01]);
    ctx.update(left);
    ctx.update(right);
    finish(ctx)
}

fn finish(ctx: digest::Context) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The Merkle tree hash of a list of leaf hashes, `MTH(D[n])` (RFC 9162 §2.1.1).
pub fn root(leaves: &[Hash]) -> Hash {
    let mut tree = Tree::new();
    for leaf in leaves {
        tree.push(*leaf);
    }
    tree.root()
}

/// A perfect subtree of `2^level` leaves: leaves `[index · 2^level, (index + 1) · 2^level)`.
/// Level 0 nodes are the leaves themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves.
    pub level: u32,
    /// Position among the nodes of this level, from the left.
    pub index: u64,
}

impl NodeId {
    /// The first leaf the node covers.
    pub fn first_leaf(self) -> u64 {
        self.index << self.level
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "level {} index {}", self.level, self.index)
    }
}

/// An append-only tree that keeps only its right edge: one hash per set bit of the size (the
/// perfect subtrees the leaves so far fill, largest first), so at most 64 hashes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    size: u64,
    frontier: Vec<Hash>,
}

impl Tree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree restored from its size and [`Tree::frontier`]; `None` if the number of hashes is not
    /// the number of set bits of `size`.
    pub fn from_frontier(size: u64, frontier: Vec<Hash>) -> Option<Self> {
        (frontier.len() == size.count_ones() as usize).then_some(Tree { size, frontier })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of the perfect subtrees that make up the tree, largest (leftmost) first.
    pub fn frontier(&self) -> &[Hash] {
        &self.frontier
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_with(leaf, |_, _| {});
    }

    /// Appends a leaf hash and reports every perfect subtree it completes, the leaf (level 0)
    /// first, so that storage can keep them for O(log n) proofs.
    pub fn push_with(&mut self, leaf: Hash, mut completed: impl FnMut(NodeId, &Hash)) {
        let index = self.size;
        let mut hash = leaf;
        let mut level = 0;
        completed(NodeId { level, index }, &hash);
        // Each trailing one bit of the old size is a left sibling waiting for this subtree.
        while index.checked_shr(level).is_some_and(|i| i & 1 == 1) {
            let Some(left) = self.frontier.pop() else { break };
            hash = node_hash(&left, &hash);
            level += 1;
            completed(NodeId { level, index: index.checked_shr(level).unwrap_or(0) }, &hash);
        }
        self.frontier.push(hash);
        // 2^64 leaves cannot be reached: at a million entries a second that is 584 000 years.
        self.size += 1;
    }

    /// The root hash, `MTH` of all leaves so far: the frontier folded from the right.
    pub fn root(&self) -> Hash {
        let mut it = self.frontier.iter().rev();
        let Some(last) = it.next() else { return EMPTY_ROOT };
        it.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// What a [`HashReader`] returns when storage fails.
pub type ReadError = Box<dyn std::error::Error + Send + Sync>;

/// Where proofs read hashes from. Storage lives outside core; core asks for hashes by position.
///
/// The proof functions take any reader, `&dyn HashReader` included; a slice of leaf hashes is one.
pub trait HashReader {
    /// The leaf hash at `index`.
    fn leaf_hash(&self, index: u64) -> Result<Hash, ReadError>;

    /// The hash of a complete perfect subtree (`node.level >= 1`), if stored. `Ok(None)` makes
    /// the caller compute it from its children, down to the leaves.
    fn subtree_hash(&self, node: NodeId) -> Result<Option<Hash>, ReadError> {
        let _ = node;
        Ok(None)
    }
}

impl HashReader for [Hash] {
    fn leaf_hash(&self, index: u64) -> Result<Hash, ReadError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.get(i))
            .copied()
            .ok_or_else(|| format!("no leaf {index} among {} leaves", self.len()).into())
    }
}

impl HashReader for Vec<Hash> {
    fn leaf_hash(&self, index: u64) -> Result<Hash, ReadError> {
        self.as_slice().leaf_hash(index)
    }
}

/// Why a proof could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf is not in the tree.
    #[error("entry {index} is not in a log of {size} entries")]
    IndexOutOfRange {
        /// The leaf asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("there is no consistency proof from {old} entries to the smaller size {new}")]
    SizeDecrease {
        /// The older size.
        old: u64,
        /// The newer size.
        new: u64,
    },
    /// Storage could not supply a hash.
    #[error("the hash of {node} could not be read: {source}")]
    Read {
        /// The node whose hash (or one of whose leaves) was being read.
        node: NodeId,
        /// The storage error.
        #[source]
        source: ReadError,
    },
}

/// Why a proof did not verify. Each variant is a distinct failure a test can observe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The leaf index is not below the tree size.
    #[error("entry {index} cannot be in a log of {size} entries")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The new tree is smaller than the old one: the log shrank.
    #[error("the log shrank from {old} to {new} entries")]
    SizeDecrease {
        /// The older size.
        old: u64,
        /// The newer size.
        new: u64,
    },
    /// The proof has more hashes than the sizes allow.
    #[error("the proof has more hashes than the tree sizes allow")]
    ProofTooLong,
    /// The proof has fewer hashes than the sizes need.
    #[error("the proof has fewer hashes than the tree sizes need")]
    ProofTooShort,
    /// The proof leads to another root than the one given (for consistency: the new root).
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
    /// The consistency proof leads to another old root than the one given.
    #[error("the proof does not lead to the expected old root hash")]
    OldRootMismatch,
}

fn read_leaf<R: HashReader + ?Sized>(reader: &R, index: u64) -> Result<Hash, ProofError> {
    reader.leaf_hash(index).map_err(|source| ProofError::Read { node: NodeId { level: 0, index }, source })
}

/// The hash of a complete perfect subtree: stored, or computed from its children.
fn perfect<R: HashReader + ?Sized>(node: NodeId, reader: &R) -> Result<Hash, ProofError> {
    if node.level == 0 {
        return read_leaf(reader, node.index);
    }
    if let Some(h) = reader.subtree_hash(node).map_err(|source| ProofError::Read { node, source })? {
        return Ok(h);
    }
    let level = node.level - 1;
    let left = perfect(NodeId { level, index: node.index << 1 }, reader)?;
    let right = perfect(NodeId { level, index: (node.index << 1) | 1 }, reader)?;
    Ok(node_hash(&left, &right))
}

/// `MTH(D[begin:end])` for a range that starts on a boundary of its own size: `begin` is a multiple
/// of the largest power of two not above `end - begin`. Such a range is the perfect subtrees given by
/// the set bits of its length, largest first; its hash folds them from the right.
fn range_hash<R: HashReader + ?Sized>(begin: u64, end: u64, reader: &R) -> Result<Hash, ProofError> {
    let len = end - begin;
    let mut parts = Vec::with_capacity(len.count_ones() as usize);
    let mut at = begin;
    for level in (0..u64::BITS).rev() {
        if (len >> level) & 1 == 1 {
            parts.push(perfect(NodeId { level, index: at >> level }, reader)?);
            at += 1 << level;
        }
    }
    let mut it = parts.iter().rev();
    let Some(last) = it.next() else { return Ok(EMPTY_ROOT) };
    Ok(it.fold(*last, |right, left| node_hash(left, &right)))
}

/// `MTH(D[0:size])` from stored hashes: O(log n) reads when the reader has the perfect subtrees.
pub fn root_at<R: HashReader + ?Sized>(size: u64, reader: &R) -> Result<Hash, ProofError> {
    range_hash(0, size, reader)
}

fn bit_len(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}

/// The hashes that connect the complete perfect subtree `node` to the root of the tree of `size`
/// leaves, from the bottom up.
///
/// Below the level where `node`'s ancestors meet those of the last leaf, every sibling is a
/// complete perfect subtree, except the topmost, which holds the last leaf and may be incomplete
/// (an ephemeral node: a range ending at `size`). Above it the path runs along the right edge,
/// where a sibling exists, to the left, exactly where the last leaf's ancestor is a right child.
fn path<R: HashReader + ?Sized>(node: NodeId, size: u64, reader: &R) -> Result<Vec<Hash>, ProofError> {
    let last = size - 1;
    let meet = bit_len(node.index ^ (last >> node.level));
    let mut proof = Vec::with_capacity(64);
    for l in 0..meet.saturating_sub(1) {
        proof.push(perfect(NodeId { level: node.level + l, index: (node.index >> l) ^ 1 }, reader)?);
    }
    if meet > 0 {
        let level = node.level + meet - 1;
        proof.push(range_hash((last >> level) << level, size, reader)?);
    }
    for level in node.level + meet..bit_len(last) {
        let ancestor = last >> level;
        if ancestor & 1 == 1 {
            proof.push(perfect(NodeId { level, index: ancestor - 1 }, reader)?);
        }
    }
    Ok(proof)
}

/// The inclusion proof (audit path) of leaf `index` in the tree of `size` leaves, as RFC 9162
/// §2.1.3.1 defines it: the sibling hashes from the leaf up to the root.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    path(NodeId { level: 0, index }, size, reader)
}

/// The consistency proof from the tree of `old` leaves to the tree of `new` leaves, as RFC 9162
/// §2.1.4.1 defines it. Empty when `old` is 0 or equal to `new`.
///
/// It is the largest perfect subtree that ends at `old` (left out when it is the whole old tree,
/// whose root the verifier has), followed by that subtree's path to the root of the new tree.
pub fn consistency_proof<R: HashReader + ?Sized>(
    old: u64,
    new: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProofError> {
    if old > new {
        return Err(ProofError::SizeDecrease { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let level = old.trailing_zeros();
    let node = NodeId { level, index: (old - 1) >> level };
    let mut proof = Vec::with_capacity(65);
    if node.index != 0 {
        proof.push(perfect(node, reader)?);
    }
    proof.extend(path(node, new, reader)?);
    Ok(proof)
}

/// Verifies an inclusion proof, following RFC 9162 §2.1.3.2 step by step.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    // 1. Compare leaf_index against tree_size. If leaf_index is greater than or equal to tree_size,
    //    then fail the proof verification.
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    // 2. Set fn to leaf_index and sn to tree_size - 1.
    let (mut fnode, mut snode) = (index, size - 1);
    // 3. Set r to hash.
    let mut r = *leaf_hash;
    // 4. For each value p in the inclusion_path array:
    for p in proof {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if snode == 0 {
            return Err(VerifyError::ProofTooLong);
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fnode & 1 == 1 || fnode == snode {
            // i. Set r to HASH(0x01 || p || r).
            r = node_hash(p, &r);
            // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until either
            //     LSB(fn) is set or fn is 0.
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            // Otherwise: Set r to HASH(0x01 || r || p).
            r = node_hash(&r, p);
        }
        // c. Finally, right-shift both fn and sn one time.
        fnode >>= 1;
        snode >>= 1;
    }
    // 5. Compare sn to 0. Compare r against the root_hash. If sn is equal to 0 and r and the
    //    root_hash are equal, then the log has proven the inclusion of hash.
    if snode != 0 {
        return Err(VerifyError::ProofTooShort);
    }
    if r != *root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof, following RFC 9162 §2.1.4.2 step by step.
///
/// Before the RFC's steps, the cases it leaves out: equal sizes need an empty proof and equal
/// roots; an old size of 0 needs an empty proof and the empty tree's root as the old root.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::SizeDecrease { old: old_size, new: new_size });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(VerifyError::ProofTooLong);
        }
        if old_size == 0 && *old_root != EMPTY_ROOT {
            return Err(VerifyError::OldRootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(VerifyError::RootMismatch);
        }
        return Ok(());
    }
    // 1. If consistency_path is an empty array, stop and fail the proof verification.
    if proof.is_empty() {
        return Err(VerifyError::ProofTooShort);
    }
    // 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
    let first_is_power_of_two = old_size.is_power_of_two();
    let prefix = first_is_power_of_two.then_some(old_root);
    let mut path = prefix.into_iter().chain(proof);
    // 3. Set fn to first - 1 and sn to second - 1.
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // 5. Set both fr and sr to the first value in the consistency_path array.
    let Some(first) = path.next() else { return Err(VerifyError::ProofTooShort) };
    let (mut fr, mut sr) = (*first, *first);
    // 6. For each subsequent value c in the consistency_path array:
    for c in path {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if snode == 0 {
            return Err(VerifyError::ProofTooLong);
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fnode & 1 == 1 || fnode == snode {
            // i. Set fr to HASH(0x01 || c || fr). Set sr to HASH(0x01 || c || sr).
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until either
            //     LSB(fn) is set or fn is 0.
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            // Otherwise: Set sr to HASH(0x01 || sr || c).
            sr = node_hash(&sr, c);
        }
        // c. Finally, right-shift both fn and sn one time.
        fnode >>= 1;
        snode >>= 1;
    }
    // 7. Verify that the fr calculated is equal to the first_hash supplied, that the sr calculated
    //    is equal to the second_hash supplied, and that sn is 0.
    if snode != 0 {
        return Err(VerifyError::ProofTooShort);
    }
    if fr != *old_root {
        return Err(VerifyError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, collections::HashMap};

    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// `MTH` by the RFC's recursion, as a second opinion inside the crate.
    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => EMPTY_ROOT,
            1 => d[0],
            n => {
                // The largest power of two below n.
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let d = digest::digest(&digest::SHA256, b"");
        assert_eq!(EMPTY_ROOT.as_slice(), d.as_ref());
        assert_eq!(root(&[]), EMPTY_ROOT);
        assert_eq!(Tree::new().root(), EMPTY_ROOT);
    }

    #[test]
    fn incremental_tree_matches_the_recursive_definition() {
        let all = leaves(130);
        let mut tree = Tree::new();
        for n in 0..=all.len() {
            assert_eq!(tree.root(), mth(&all[..n]), "size {n}");
            assert_eq!(root_at(n as u64, all.as_slice()).unwrap(), mth(&all[..n]));
            let restored = Tree::from_frontier(tree.size(), tree.frontier().to_vec()).unwrap();
            assert_eq!(restored, tree);
            if n < all.len() {
                tree.push(all[n]);
            }
        }
        assert!(Tree::from_frontier(3, vec![[0; 32]]).is_none());
    }

    #[test]
    fn push_reports_each_completed_subtree() {
        let all = leaves(64);
        let mut tree = Tree::new();
        let mut stored = HashMap::new();
        for leaf in &all {
            tree.push_with(*leaf, |node, h| {
                assert!(stored.insert(node, *h).is_none());
            });
        }
        // 64 leaves + 32 + 16 + 8 + 4 + 2 + 1 completed subtrees.
        assert_eq!(stored.len(), 127);
        for (node, h) in stored {
            let begin = node.first_leaf() as usize;
            assert_eq!(h, mth(&all[begin..begin + (1 << node.level)]), "{node}");
        }
    }

    #[test]
    fn every_proof_up_to_70_leaves_verifies_and_mutations_fail() {
        let all = leaves(70);
        for size in 1..=all.len() as u64 {
            let d = &all[..size as usize];
            let root = mth(d);
            for index in 0..size {
                let proof = inclusion_proof(index, size, d).unwrap();
                verify_inclusion(&d[index as usize], index, size, &proof, &root).unwrap();
                assert!(verify_inclusion(&d[index as usize], index, size, &proof, &EMPTY_ROOT).is_err());
                if index + 1 < size {
                    assert!(verify_inclusion(&d[index as usize], index + 1, size, &proof, &root).is_err());
                }
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][0] ^= 1;
                    assert!(verify_inclusion(&d[index as usize], index, size, &bad, &root).is_err());
                }
                let mut longer = proof.clone();
                longer.push(root);
                assert!(verify_inclusion(&d[index as usize], index, size, &longer, &root).is_err());
            }
            for old in 0..=size {
                let old_root = mth(&d[..old as usize]);
                let proof = consistency_proof(old, size, d).unwrap();
                verify_consistency(old, size, &old_root, &root, &proof).unwrap();
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][31] ^= 0x80;
                    assert!(verify_consistency(old, size, &old_root, &root, &bad).is_err());
                }
                if !proof.is_empty() {
                    assert!(verify_consistency(old, size, &old_root, &root, &proof[1..]).is_err());
                    assert!(verify_consistency(old, size, &root, &old_root, &proof).is_err());
                }
            }
        }
    }

    #[test]
    fn edge_cases_of_the_verifiers() {
        let d = leaves(4);
        let r = mth(&d);
        assert_eq!(
            verify_inclusion(&d[0], 4, 4, &[], &r),
            Err(VerifyError::IndexOutOfRange { index: 4, size: 4 })
        );
        assert_eq!(verify_inclusion(&d[0], 0, 1, &[], &d[0]), Ok(()));
        assert_eq!(verify_inclusion(&d[0], 0, 1, &[d[1]], &d[0]), Err(VerifyError::ProofTooLong));
        assert_eq!(verify_inclusion(&d[0], 0, 2, &[], &r), Err(VerifyError::ProofTooShort));
        assert_eq!(verify_consistency(3, 2, &r, &r, &[]), Err(VerifyError::SizeDecrease { old: 3, new: 2 }));
        assert_eq!(verify_consistency(4, 4, &r, &r, &[]), Ok(()));
        assert_eq!(verify_consistency(4, 4, &r, &d[0], &[]), Err(VerifyError::RootMismatch));
        assert_eq!(verify_consistency(4, 4, &r, &r, &[r]), Err(VerifyError::ProofTooLong));
        assert_eq!(verify_consistency(0, 4, &EMPTY_ROOT, &r, &[]), Ok(()));
        assert_eq!(verify_consistency(0, 4, &r, &r, &[]), Err(VerifyError::OldRootMismatch));
        assert_eq!(verify_consistency(1, 4, &d[0], &r, &[]), Err(VerifyError::ProofTooShort));
        assert!(matches!(inclusion_proof(4, 4, d.as_slice()), Err(ProofError::IndexOutOfRange { .. })));
        assert!(matches!(consistency_proof(5, 4, d.as_slice()), Err(ProofError::SizeDecrease { .. })));
        assert!(matches!(inclusion_proof(3, 5, d.as_slice()), Err(ProofError::Read { .. })));
    }

    /// A reader with every perfect subtree stored, counting reads.
    struct Stored {
        nodes: HashMap<NodeId, Hash>,
        reads: Cell<u32>,
    }

    impl HashReader for Stored {
        fn leaf_hash(&self, index: u64) -> Result<Hash, ReadError> {
            self.reads.set(self.reads.get() + 1);
            self.nodes.get(&NodeId { level: 0, index }).copied().ok_or_else(|| "missing".into())
        }
        fn subtree_hash(&self, node: NodeId) -> Result<Option<Hash>, ReadError> {
            self.reads.set(self.reads.get() + 1);
            Ok(self.nodes.get(&node).copied())
        }
    }

    #[test]
    fn proofs_read_o_log_n_hashes_when_subtrees_are_stored() {
        let n = 1000u64;
        let mut tree = Tree::new();
        let mut nodes = HashMap::new();
        for leaf in leaves(n) {
            tree.push_with(leaf, |id, h| {
                nodes.insert(id, *h);
            });
        }
        let stored = Stored { nodes, reads: Cell::new(0) };
        for size in [1, 2, 3, 500, 511, 512, 513, 999, 1000] {
            for index in [0, size / 3, size - 1] {
                stored.reads.set(0);
                let proof = inclusion_proof(index, size, &stored).unwrap();
                assert!(stored.reads.get() <= 2 * 11, "{} reads for {index}/{size}", stored.reads.get());
                assert!(proof.len() <= 10);
            }
            for old in [1, size / 2, size - 1] {
                stored.reads.set(0);
                consistency_proof(old, size, &stored).unwrap();
                assert!(stored.reads.get() <= 2 * 11 + 1, "{} reads for {old}->{size}", stored.reads.get());
            }
        }
    }
}
