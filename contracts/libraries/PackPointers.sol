// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IPharmaTrackTypes} from "../IPharmaTrack.sol";

/// @notice Where each moved pack of a lot is: a 32-bit container number per leaf index, eight to a storage word
///         (entry `index` is lane `index % 8` of word `index / 8`; zero means "never moved"). A {PackSet} is worked a
///         byte of its mask at a time — one byte is exactly one pointer word — so a tote of thirty neighbouring packs
///         reads or writes four or five words, not thirty slots.
library PackPointers {
    /// @notice Returned when every pack matches.
    uint256 internal constant NONE = type(uint256).max;

    /// @dev 1 in the low bit of each of the eight 32-bit lanes: `n * REPEAT` puts `n` in every lane.
    uint256 private constant REPEAT = 0x0000000100000001000000010000000100000001000000010000000100000001;
    uint256 private constant LANE = 0xffffffff;

    /// @notice The container number of pack `index` (zero when it never moved).
    function get(mapping(uint256 => uint256) storage map, uint256 index) internal view returns (uint32) {
        return uint32(map[index >> 3] >> ((index & 7) << 5));
    }

    /// @notice The lowest index of `set` whose container number is not `number`, else {NONE}.
    function firstOther(mapping(uint256 => uint256) storage map, IPharmaTrackTypes.PackSet calldata set, uint32 number)
        internal
        view
        returns (uint256)
    {
        uint256[] calldata masks = set.masks;
        uint256 repeated = uint256(number) * REPEAT;
        for (uint256 k; k < masks.length; ++k) {
            uint256 stray = _firstOther(map, (set.firstWord + k) << 5, masks[k], repeated);
            if (stray != NONE) return stray;
        }
        return NONE;
    }

    /// @notice Point every pack of `set` at container `number`.
    function write(mapping(uint256 => uint256) storage map, IPharmaTrackTypes.PackSet calldata set, uint32 number)
        internal
    {
        uint256[] calldata masks = set.masks;
        uint256 repeated = uint256(number) * REPEAT;
        for (uint256 k; k < masks.length; ++k) {
            _write(map, (set.firstWord + k) << 5, masks[k], repeated);
        }
    }

    /// @dev {firstOther} for the 256 indexes of one mask word, whose first pointer word is `base`.
    function _firstOther(mapping(uint256 => uint256) storage map, uint256 base, uint256 mask, uint256 repeated)
        private
        view
        returns (uint256)
    {
        for (uint256 slot = base; mask != 0; ++slot) {
            uint256 bits = mask & 0xff;
            mask >>= 8;
            if (bits == 0) continue;
            uint256 diff = (map[slot] ^ repeated) & _lanes(bits);
            if (diff != 0) return (slot << 3) + _lowestLane(diff);
        }
        return NONE;
    }

    /// @dev {write} for the 256 indexes of one mask word, whose first pointer word is `base`.
    function _write(mapping(uint256 => uint256) storage map, uint256 base, uint256 mask, uint256 repeated) private {
        for (uint256 slot = base; mask != 0; ++slot) {
            uint256 bits = mask & 0xff;
            mask >>= 8;
            if (bits == 0) continue;
            uint256 lanes = _lanes(bits);
            map[slot] = (map[slot] & ~lanes) | (repeated & lanes);
        }
    }

    /// @dev The 32-bit lanes selected by the eight bits of `bits`.
    function _lanes(uint256 bits) private pure returns (uint256 lanes) {
        for (uint256 i; bits != 0; ++i) {
            if (bits & 1 != 0) lanes |= LANE << (i << 5);
            bits >>= 1;
        }
    }

    /// @dev The lowest lane (0..7) with a set bit in `x` (non-zero).
    function _lowestLane(uint256 x) private pure returns (uint256 lane) {
        while (x & LANE == 0) {
            x >>= 32;
            ++lane;
        }
    }
}
