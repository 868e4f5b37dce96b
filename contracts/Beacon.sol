// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title Beacon — the foundation's wiring probe
/// @notice A deliberately tiny contract proving the chain → indexer → API path end to end.
///         The custody contracts replace it.
contract Beacon {
    /// @notice Emitted for every ping.
    /// @param sender who pinged
    /// @param seq a per-contract sequence number, starting at 1
    /// @param note free text, up to 256 bytes
    event Pinged(address indexed sender, uint256 indexed seq, string note);

    /// @notice The note was longer than 256 bytes.
    error BeaconNoteTooLong(uint256 length);

    uint256 private _seq;

    /// @notice Emit a Pinged event carrying `note`.
    /// @param note free text, up to 256 bytes
    function ping(string calldata note) external returns (uint256 seq) {
        if (bytes(note).length > 256) revert BeaconNoteTooLong(bytes(note).length);
        seq = ++_seq;
        emit Pinged(msg.sender, seq, note);
    }

    /// @notice How many pings so far.
    function pings() external view returns (uint256) {
        return _seq;
    }
}
