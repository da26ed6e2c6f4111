//! The Merkle math against the RFC 6962 reference test vectors (the eight leaves used by
//! Certificate Transparency implementations), and properties for every size up to 300.

use mailkeep_journal::merkle::*;
use proptest::prelude::*;

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// The inputs of the reference vectors.
fn leaves() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| hex::decode(s).unwrap())
    .collect()
}

fn tree(n: usize) -> InMemory {
    InMemory::new(leaves().iter().take(n).map(|l| leaf_hash(l)).collect())
}

#[test]
fn roots_match_the_reference_vectors() {
    assert_eq!(
        empty_root(),
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    let expected = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let t = tree(8);
    for (i, e) in expected.iter().enumerate() {
        assert_eq!(root(&t, i as u64 + 1).unwrap(), h(e), "size {}", i + 1);
    }
}

#[test]
fn a_frontier_gives_every_prefix_head() {
    let mut f = Frontier::default();
    assert_eq!(f.root(), empty_root());
    let t = tree(8);
    for (i, l) in leaves().iter().enumerate() {
        f.push(leaf_hash(l));
        assert_eq!(f.size(), i as u64 + 1);
        assert_eq!(f.root(), root(&t, i as u64 + 1).unwrap(), "size {}", i + 1);
    }
    let hashes: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let big = InMemory::new(hashes.clone());
    let mut f = Frontier::default();
    for (i, h) in hashes.into_iter().enumerate() {
        f.push(h);
        assert_eq!(
            f.root(),
            root(&big, i as u64 + 1).unwrap(),
            "size {}",
            i + 1
        );
    }
}

#[test]
fn inclusion_proofs_match_the_reference_vectors() {
    let t = tree(8);
    let cases: [(u64, u64, &[&str]); 5] = [
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (index, size, path) in cases {
        let want: Vec<Hash> = path.iter().map(|s| h(s)).collect();
        assert_eq!(
            inclusion_proof(&t, index, size).unwrap(),
            want,
            "{index} in {size}"
        );
        let leaf = leaf_hash(&leaves()[index as usize]);
        assert!(verify_inclusion(
            &leaf,
            index,
            size,
            &want,
            &root(&t, size).unwrap()
        ));
    }
}

#[test]
fn consistency_proofs_match_the_reference_vectors() {
    let t = tree(8);
    let cases: [(u64, u64, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (old, new, path) in cases {
        let want: Vec<Hash> = path.iter().map(|s| h(s)).collect();
        assert_eq!(
            consistency_proof(&t, old, new).unwrap(),
            want,
            "{old} → {new}"
        );
        assert!(verify_consistency(
            old,
            new,
            &root(&t, old).unwrap(),
            &root(&t, new).unwrap(),
            &want
        ));
    }
}

fn big(n: usize) -> InMemory {
    InMemory::new(
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect(),
    )
}

#[test]
fn every_proof_for_every_size_up_to_300_verifies() {
    let t = big(300);
    let roots: Vec<Hash> = (0..=300).map(|n| root(&t, n).unwrap()).collect();
    for size in 1..=300u64 {
        for index in 0..size {
            let leaf = leaf_hash(&index.to_be_bytes());
            let p = inclusion_proof(&t, index, size).unwrap();
            assert!(verify_inclusion(
                &leaf,
                index,
                size,
                &p,
                &roots[size as usize]
            ));
        }
        for old in 0..=size {
            let p = consistency_proof(&t, old, size).unwrap();
            assert!(
                verify_consistency(old, size, &roots[old as usize], &roots[size as usize], &p),
                "{old} → {size}"
            );
        }
    }
}

#[test]
fn completed_subtrees_are_announced_as_leaves_arrive() {
    assert_eq!(completed_by(0).collect::<Vec<_>>(), []);
    assert_eq!(completed_by(1).collect::<Vec<_>>(), [(1, 0)]);
    assert_eq!(completed_by(3).collect::<Vec<_>>(), [(1, 1), (2, 0)]);
    assert_eq!(completed_by(6).collect::<Vec<_>>(), []);
    assert_eq!(
        completed_by(7).collect::<Vec<_>>(),
        [(1, 3), (2, 1), (3, 0)]
    );
}

#[test]
fn missing_nodes_are_reported() {
    struct Holey(InMemory);
    impl Nodes for Holey {
        fn node(&self, level: u32, index: u64) -> Option<Hash> {
            if (level, index) == (1, 1) {
                None
            } else {
                self.0.node(level, index)
            }
        }
    }
    let t = Holey(big(5));
    // Heads that need only other nodes still work; a proof through the hole names it.
    assert!(root(&t, 3).is_ok());
    assert_eq!(root(&t, 4).ok(), t.0.node(2, 0), "level 2 is stored whole");
    assert_eq!(
        inclusion_proof(&t, 0, 4),
        Err(TreeError::MissingNode { level: 1, index: 1 })
    );
    assert_eq!(inclusion_proof(&t, 5, 5), Err(TreeError::OutOfRange));
    assert_eq!(consistency_proof(&t, 6, 5), Err(TreeError::OutOfRange));
}

proptest! {
    /// Any change to a proof, the leaf, the index or the root makes verification fail.
    #[test]
    fn altered_proofs_fail(size in 2u64..200, seed in any::<u64>(), flip in any::<u8>()) {
        let t = big(size as usize);
        let index = seed % size;
        let leaf = leaf_hash(&index.to_be_bytes());
        let r = root(&t, size).unwrap();
        let mut p = inclusion_proof(&t, index, size).unwrap();
        prop_assert!(verify_inclusion(&leaf, index, size, &p, &r));
        let other = (index + 1 + seed % (size - 1)) % size;
        prop_assert!(!verify_inclusion(&leaf, other, size, &p, &r));
        prop_assert!(!verify_inclusion(&leaf_hash(b"forged"), index, size, &p, &r));
        if !p.is_empty() {
            let i = (seed as usize / 7) % p.len();
            p[i][(flip % 32) as usize] ^= 1 << (flip % 8);
            prop_assert!(!verify_inclusion(&leaf, index, size, &p, &r));
        }
        let old = 1 + seed % (size - 1);
        let mut c = consistency_proof(&t, old, size).unwrap();
        let old_root = root(&t, old).unwrap();
        prop_assert!(verify_consistency(old, size, &old_root, &r, &c));
        prop_assert!(!verify_consistency(old, size, &leaf_hash(b"x"), &r, &c));
        if !c.is_empty() {
            let i = (seed as usize / 3) % c.len();
            c[i][(flip % 32) as usize] ^= 1 << (flip % 8);
            prop_assert!(!verify_consistency(old, size, &old_root, &r, &c));
        }
    }
}
