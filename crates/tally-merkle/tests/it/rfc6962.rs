//! The RFC 6962 reference vectors used by Certificate Transparency (its
//! merkle tree tests): eight leaves, the roots of every prefix, and
//! inclusion and consistency paths.

use tally_audit::merkle::Sha256Tree;
use tally_merkle::{Frontier, Hash, ProofIndex, TreeHasher, verify_consistency, verify_inclusion};

const LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];

/// The roots of the first 0..=8 leaves.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn h(s: &str) -> Hash {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn index() -> ProofIndex<Sha256Tree> {
    ProofIndex::from_leaves(Sha256Tree, LEAVES.iter().map(|l| Sha256Tree.leaf(l)))
}

#[test]
fn merkle_roots_match_rfc6962_reference() {
    let index = index();
    let mut frontier = Frontier::<Sha256Tree>::new();
    for (size, root) in ROOTS.iter().enumerate() {
        assert_eq!(index.root(size as u64).unwrap(), h(root), "size {size}");
        assert_eq!(frontier.root(), h(root), "frontier size {size}");
        if let Some(leaf) = LEAVES.get(size) {
            frontier.push(Sha256Tree.leaf(leaf));
        }
    }
    assert_eq!(frontier.size(), 8);
}

#[test]
fn inclusion_proofs_match_rfc6962_reference() {
    let index = index();
    // (leaf index, tree size, proof) from the Certificate Transparency tests.
    let vectors: [(u64, u64, &[&str]); 5] = [
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
    for (i, n, want) in vectors {
        let proof = index.inclusion_proof(i, n).unwrap();
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(proof, want, "leaf {i} size {n}");
        let root = h(ROOTS[n as usize]);
        let leaf = Sha256Tree.leaf(LEAVES[i as usize]);
        verify_inclusion(&Sha256Tree, &leaf, i, n, &proof, &root).unwrap();
        let other = Sha256Tree.leaf(b"x");
        assert!(verify_inclusion(&Sha256Tree, &other, i, n, &proof, &root).is_err());
    }
}

#[test]
fn consistency_proofs_match_rfc6962_reference() {
    let index = index();
    let vectors: [(u64, u64, &[&str]); 4] = [
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
    for (m, n, want) in vectors {
        let proof = index.consistency_proof(m, n).unwrap();
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(proof, want, "{m} -> {n}");
        let (a, b) = (h(ROOTS[m as usize]), h(ROOTS[n as usize]));
        verify_consistency(&Sha256Tree, m, n, &a, &b, &proof).unwrap();
        if m != n {
            assert!(verify_consistency(&Sha256Tree, m, n, &b, &b, &proof).is_err());
        }
    }
}
