// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {IPharmaTrackTypes} from "../IPharmaTrack.sol";

/// @notice Sets of packs of one lot, in the shape of the lot's OpenZeppelin {BitMaps}: bit `b` of `masks[k]` is
///         leaf index `(firstWord + k) * 256 + b`. A batch is applied a word at a time — one SLOAD and one SSTORE
///         per 256 packs, no per-pack loop — and is ascending and duplicate-free by construction.
/// @dev The batch operations use BitMaps' storage layout (word `index >> 8` of the struct's mapping), so
///      `BitMaps.get` reads what they write.
library PackSets {
    /// @notice Returned when no index conflicts.
    uint256 internal constant NONE = type(uint256).max;

    /// @notice Number of packs in `set`.
    function size(IPharmaTrackTypes.PackSet calldata set) internal pure returns (uint256 n) {
        uint256[] calldata masks = set.masks;
        for (uint256 k; k < masks.length; ++k) {
            n += _popcount(masks[k]);
        }
    }

    /// @notice The lowest index of `set` outside [lo, hi), else {NONE}.
    function outside(IPharmaTrackTypes.PackSet calldata set, uint256 lo, uint256 hi) internal pure returns (uint256) {
        uint256[] calldata masks = set.masks;
        uint256 firstWord = set.firstWord;
        for (uint256 k; k < masks.length; ++k) {
            uint256 stray = masks[k] & ~_runMask(firstWord + k, lo, hi);
            if (stray != 0) return ((firstWord + k) << 8) + _lowestBit(stray);
        }
        return NONE;
    }

    /// @notice Set the bits of `set`; returns the lowest index already set, else {NONE}. Callers revert on a
    ///         conflict, which undoes any partial writes.
    function setAll(BitMaps.BitMap storage map, IPharmaTrackTypes.PackSet calldata set) internal returns (uint256) {
        uint256[] calldata masks = set.masks;
        uint256 firstWord = set.firstWord;
        for (uint256 k; k < masks.length; ++k) {
            uint256 mask = masks[k];
            if (mask == 0) continue;
            uint256 bucket = firstWord + k;
            uint256 word = map._data[bucket];
            uint256 clash = word & mask;
            if (clash != 0) return (bucket << 8) + _lowestBit(clash);
            map._data[bucket] = word | mask;
        }
        return NONE;
    }

    /// @notice Clear the bits of `set`; returns the lowest index that was not set, else {NONE}.
    function clearAll(BitMaps.BitMap storage map, IPharmaTrackTypes.PackSet calldata set) internal returns (uint256) {
        uint256[] calldata masks = set.masks;
        uint256 firstWord = set.firstWord;
        for (uint256 k; k < masks.length; ++k) {
            uint256 mask = masks[k];
            if (mask == 0) continue;
            uint256 bucket = firstWord + k;
            uint256 word = map._data[bucket];
            uint256 missing = ~word & mask;
            if (missing != 0) return (bucket << 8) + _lowestBit(missing);
            map._data[bucket] = word & ~mask;
        }
        return NONE;
    }

    /// @notice The lowest index of `set` whose bit is set, else {NONE}.
    function firstSet(BitMaps.BitMap storage map, IPharmaTrackTypes.PackSet calldata set)
        internal
        view
        returns (uint256)
    {
        uint256[] calldata masks = set.masks;
        uint256 firstWord = set.firstWord;
        for (uint256 k; k < masks.length; ++k) {
            uint256 mask = masks[k];
            if (mask == 0) continue;
            uint256 hit = map._data[firstWord + k] & mask;
            if (hit != 0) return ((firstWord + k) << 8) + _lowestBit(hit);
        }
        return NONE;
    }

    /// @notice The lowest index of `set` that is not in `within`, else {NONE}.
    function notWithin(IPharmaTrackTypes.PackSet calldata set, IPharmaTrackTypes.PackSet calldata within)
        internal
        pure
        returns (uint256)
    {
        uint256[] calldata masks = set.masks;
        uint256[] calldata allowed = within.masks;
        uint256 firstWord = set.firstWord;
        uint256 offset = within.firstWord;
        for (uint256 k; k < masks.length; ++k) {
            uint256 bucket = firstWord + k;
            uint256 mask = masks[k];
            if (bucket >= offset && bucket - offset < allowed.length) mask &= ~allowed[bucket - offset];
            if (mask != 0) return (bucket << 8) + _lowestBit(mask);
        }
        return NONE;
    }

    /// @notice Set the bits of `count` consecutive indexes from `first`; returns the lowest index already set, else
    ///         {NONE}.
    function setRun(BitMaps.BitMap storage map, uint256 first, uint256 count) internal returns (uint256) {
        uint256 end = first + count;
        for (uint256 bucket = first >> 8; bucket << 8 < end; ++bucket) {
            uint256 mask = _runMask(bucket, first, end);
            uint256 word = map._data[bucket];
            uint256 clash = word & mask;
            if (clash != 0) return (bucket << 8) + _lowestBit(clash);
            map._data[bucket] = word | mask;
        }
        return NONE;
    }

    /// @notice The lowest index of the run first .. first + count - 1 set in `map`, else {NONE}.
    function firstSetRun(BitMaps.BitMap storage map, uint256 first, uint256 count) internal view returns (uint256) {
        uint256 end = first + count;
        for (uint256 bucket = first >> 8; bucket << 8 < end; ++bucket) {
            uint256 hit = map._data[bucket] & _runMask(bucket, first, end);
            if (hit != 0) return (bucket << 8) + _lowestBit(hit);
        }
        return NONE;
    }

    /// @notice The indexes of `set` (of size `n`), ascending.
    function indexes(IPharmaTrackTypes.PackSet calldata set, uint256 n) internal pure returns (uint256[] memory out) {
        out = new uint256[](n);
        uint256[] calldata masks = set.masks;
        uint256 firstWord = set.firstWord;
        uint256 i;
        for (uint256 k; k < masks.length; ++k) {
            uint256 mask = masks[k];
            uint256 base = (firstWord + k) << 8;
            while (mask != 0) {
                uint256 low = mask & (~mask + 1);
                out[i++] = base + Math.log2(low);
                mask ^= low;
            }
        }
    }

    /// @dev The bits of word `bucket` that fall in [lo, hi).
    function _runMask(uint256 bucket, uint256 lo, uint256 hi) private pure returns (uint256) {
        uint256 start = bucket << 8;
        if (hi <= start || lo >= start + 256) return 0;
        uint256 from = lo > start ? lo - start : 0;
        uint256 to = hi < start + 256 ? hi - start : 256;
        uint256 below = to == 256 ? type(uint256).max : (1 << to) - 1;
        return below & (type(uint256).max << from);
    }

    function _lowestBit(uint256 x) private pure returns (uint256) {
        return Math.log2(x & (~x + 1));
    }

    /// @dev Set bits of `x` (SWAR; 16-bit lanes so that 256 fits).
    function _popcount(uint256 x) private pure returns (uint256) {
        unchecked {
            x -= (x >> 1) & 0x5555555555555555555555555555555555555555555555555555555555555555;
            x = (x & 0x3333333333333333333333333333333333333333333333333333333333333333)
                + ((x >> 2) & 0x3333333333333333333333333333333333333333333333333333333333333333);
            x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f;
            x = (x & 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff)
                + ((x >> 8) & 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff);
            return (x * 0x0001000100010001000100010001000100010001000100010001000100010001) >> 240;
        }
    }
}
