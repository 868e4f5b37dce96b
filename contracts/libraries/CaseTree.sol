// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

/// @notice A tree case's children tree: an OpenZeppelin standard Merkle tree (leaves in ascending index order, not
///         sorted by hash) over `(bytes32 lotId, uint256 index)` leaves, double-hashed as
///         `keccak256(bytes.concat(keccak256(abi.encode(lotId, index))))`. Proofs against its root are checked with
///         OpenZeppelin's {MerkleProof}.
library CaseTree {
    /// @notice The standard leaf of pack `index` of `lotId`.
    function leaf(bytes32 lotId, uint256 index) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, lotId)
            mstore(0x20, index)
            mstore(0x00, keccak256(0x00, 0x40))
            h := keccak256(0x00, 0x20)
        }
    }

    /// @notice The leaves of `indexes`, in order.
    function leaves(bytes32 lotId, uint256[] memory indexes) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](indexes.length);
        for (uint256 i; i < indexes.length; ++i) {
            out[i] = leaf(lotId, indexes[i]);
        }
    }

    /// @notice The root of the tree over `indexes` (non-empty), built as OpenZeppelin's `makeMerkleTree` builds it:
    ///         leaves at the end of a (2n-1)-node array in reverse order, parents upwards.
    function root(bytes32 lotId, uint256[] memory indexes) internal pure returns (bytes32) {
        uint256 n = indexes.length;
        bytes32[] memory tree = new bytes32[](2 * n - 1);
        unchecked {
            uint256 lastNode = 2 * n - 2;
            for (uint256 i; i < n; ++i) {
                tree[lastNode - i] = leaf(lotId, indexes[i]);
            }
            for (uint256 j = n - 1; j > 0; --j) {
                uint256 node = j - 1;
                tree[node] = Hashes.commutativeKeccak256(tree[2 * node + 1], tree[2 * node + 2]);
            }
        }
        return tree[0];
    }
}
