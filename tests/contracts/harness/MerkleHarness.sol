// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title MerkleHarness — test-only: OpenZeppelin's MerkleProof over pharmatrack's two leaf shapes
/// @notice Lets the tests check app.merkle's proofs against the verifier a relying party would use on-chain.
contract MerkleHarness {
    /// @notice MerkleProof.verify of lot leaf (index, sgtinId).
    /// @param proof sibling hashes
    /// @param root the lot's serial root
    /// @param index the leaf index
    /// @param sgtinId the pack id
    /// @return whether the leaf is in the tree
    function verifyLotLeaf(bytes32[] calldata proof, bytes32 root, uint256 index, bytes32 sgtinId)
        external
        pure
        returns (bool)
    {
        return MerkleProof.verifyCalldata(proof, root, _leaf(abi.encode(index, sgtinId)));
    }

    /// @notice MerkleProof.multiProofVerify of lot leaves (indexes[i], sgtinIds[i]).
    /// @param proof sibling hashes
    /// @param flags the multiproof's flags
    /// @param root the lot's serial root
    /// @param indexes the leaf indexes, in the multiproof's order
    /// @param sgtinIds the pack ids, in the same order
    /// @return whether every leaf is in the tree
    function multiVerifyLotLeaves(
        bytes32[] calldata proof,
        bool[] calldata flags,
        bytes32 root,
        uint256[] calldata indexes,
        bytes32[] calldata sgtinIds
    ) external pure returns (bool) {
        bytes32[] memory leaves = new bytes32[](indexes.length);
        for (uint256 i; i < indexes.length; ++i) {
            leaves[i] = _leaf(abi.encode(indexes[i], sgtinIds[i]));
        }
        return MerkleProof.multiProofVerifyCalldata(proof, flags, root, leaves);
    }

    /// @notice MerkleProof.multiProofVerify of case leaves (lotId, indexes[i]).
    /// @param proof sibling hashes
    /// @param flags the multiproof's flags
    /// @param root the case's children root
    /// @param lotId the packs' lot
    /// @param indexes the leaf indexes, in the multiproof's order
    /// @return whether every leaf is in the tree
    function multiVerifyCaseLeaves(
        bytes32[] calldata proof,
        bool[] calldata flags,
        bytes32 root,
        bytes32 lotId,
        uint256[] calldata indexes
    ) external pure returns (bool) {
        bytes32[] memory leaves = new bytes32[](indexes.length);
        for (uint256 i; i < indexes.length; ++i) {
            leaves[i] = _leaf(abi.encode(lotId, indexes[i]));
        }
        return MerkleProof.multiProofVerifyCalldata(proof, flags, root, leaves);
    }

    /// @notice MerkleProof.processMultiProof on raw leaf hashes.
    /// @param proof sibling hashes
    /// @param flags the multiproof's flags
    /// @param leaves leaf hashes
    /// @return the implied root
    function processMultiProof(bytes32[] calldata proof, bool[] calldata flags, bytes32[] memory leaves)
        external
        pure
        returns (bytes32)
    {
        return MerkleProof.processMultiProofCalldata(proof, flags, leaves);
    }

    function _leaf(bytes memory encoded) private pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(encoded)));
    }
}
