// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IPharmaTrackTypes} from "../IPharmaTrack.sol";

/// @notice Where each moved pack of a lot is, in two levels, both in one mapping of the lot:
///         - a 16-bit pointer per leaf index, sixteen to a storage word (entry `index` is lane `index % 16` of word
///           `index / 16`; zero means "never moved"). A block of 256 indexes (one word of a {PackSet} mask) is
///           exactly sixteen pointer words, one per 16 bits of the mask;
///         - per block, a table of the containers its packs were moved to, four 64-bit keys to a word at keys
///           `TABLE | block << 16 | e / 4` (entry `e` in lane `e % 4`); entry 0 counts the entries. A pointer is an
///           entry of its own block's table. A container's key is its SSCC for a tote and `CONSIGNMENT | number` for
///           a consignment: the unit id follows from it ({idOf}), so no number-to-id record is written for either.
///         Moving a group of packs adds one entry to each block it touches and writes the entry's number (not the
///         container's) into the packs' pointers, so a moved pack costs 16 bits of storage, not 32: half the new
///         words a pick writes. A table holds 65,535 entries; when a move finds its block's table full, the table
///         is compacted first ({_compact}): its 256 pointers use at most 256 entries, renumbered 1.. in place, so
///         the table is reused and no holder can ever freeze a block (issue 14 review #14: one holder moving one
///         pack 65,535 times used to stop every pack of its block, whoever held them).
library PackPointers {
    /// @notice Returned when every pack matches.
    uint256 internal constant NONE = type(uint256).max;

    /// @dev Table words live above every pointer word (pointer keys are below 2^40).
    uint256 private constant TABLE = 1 << 255;
    /// @dev 1 in the low bit of each of the sixteen 16-bit lanes: `n * REPEAT` puts `n` in every lane.
    uint256 private constant REPEAT = 0x0001000100010001000100010001000100010001000100010001000100010001;
    uint256 private constant LANE = 0xffff;
    uint256 private constant ENTRY = 0xffffffffffffffff;
    /// @notice The key of consignment `number` is `CONSIGNMENT | number`; a tote's key is its SSCC (below 1e18).
    uint64 internal constant CONSIGNMENT = 1 << 63;
    uint256 private constant MAX_ENTRIES = 0xffff;

    /// @notice The container pack `index` is in (zero when it never moved).
    function containerOf(mapping(uint256 => uint256) storage map, uint256 index) internal view returns (bytes32) {
        uint256 e = (map[index >> 4] >> ((index & 15) << 4)) & LANE;
        if (e == 0) return bytes32(0);
        return idOf(_entry(map, index >> 8, e));
    }

    /// @notice Whether pack `index` ever left its case.
    function moved(mapping(uint256 => uint256) storage map, uint256 index) internal view returns (bool) {
        return (map[index >> 4] >> ((index & 15) << 4)) & LANE != 0;
    }

    /// @notice The unit id of container key `key`: keccak256(abi.encode("sscc", sscc)) for a tote,
    ///         keccak256(abi.encode("consignment", number)) for a consignment (as {PharmaTrackStorage} names them).
    function idOf(uint64 key) internal pure returns (bytes32) {
        if (key & CONSIGNMENT != 0) return keccak256(abi.encode("consignment", uint256(uint32(key))));
        return keccak256(abi.encode("sscc", uint256(key)));
    }

    /// @notice The lowest index of `set` not in container `containerId` (zero: that never moved), else {NONE}.
    function firstOther(
        mapping(uint256 => uint256) storage map,
        IPharmaTrackTypes.PackSet calldata set,
        bytes32 containerId
    )
        internal
        view
        returns (uint256)
    {
        uint256[] calldata masks = set.masks;
        for (uint256 k; k < masks.length; ++k) {
            uint256 stray = _firstOther(map, set.firstWord + k, masks[k], containerId);
            if (stray != NONE) return stray;
        }
        return NONE;
    }

    /// @notice Point every pack of `set` at the container of key `key`.
    function write(mapping(uint256 => uint256) storage map, IPharmaTrackTypes.PackSet calldata set, uint64 key)
        internal
    {
        uint256[] calldata masks = set.masks;
        for (uint256 k; k < masks.length; ++k) {
            uint256 mask = masks[k];
            if (mask == 0) continue;
            uint256 blockIndex = set.firstWord + k;
            uint256 e = _addEntry(map, blockIndex, key);
            _write(map, blockIndex << 4, mask, e * REPEAT);
        }
    }

    /// @dev Appends `key` to block `blockIndex`'s table (compacted first when full); returns its entry.
    function _addEntry(mapping(uint256 => uint256) storage map, uint256 blockIndex, uint64 key)
        private
        returns (uint256 e)
    {
        uint256 at0 = TABLE | (blockIndex << 16);
        uint256 head = map[at0];
        e = (head & ENTRY) + 1;
        if (e > MAX_ENTRIES) {
            e = _compact(map, blockIndex) + 1;
            head = map[at0];
        }
        head = (head & ~ENTRY) | e;
        uint256 shift = (e & 3) << 6;
        if (e >> 2 == 0) {
            map[at0] = (head & ~(ENTRY << shift)) | (uint256(key) << shift);
        } else {
            map[at0] = head;
            uint256 at = at0 | (e >> 2);
            map[at] = (map[at] & ~(ENTRY << shift)) | (uint256(key) << shift);
        }
    }

    /// @dev Rewrites block `blockIndex`'s table to hold only the entries its pointers still use, numbered 1.. in
    ///      order of first use by leaf index, and its pointers to match; returns how many (at most 256, so at least
    ///      65,279 entries are free after it). Runs only on a full table: its cost (16 pointer words, the live
    ///      entries' keys, the new table words: 614,140 gas for the whole move at worst, 256 live entries) comes once per
    ///      65,279 or more moves touching the block.
    function _compact(mapping(uint256 => uint256) storage map, uint256 blockIndex) private returns (uint256 live) {
        uint256[] memory olds = new uint256[](256); // the old entry of new entry i + 1
        uint256[] memory seen = new uint256[](512); // open addressing by old entry: old << 16 | new (0: free)
        uint256 base = blockIndex << 4;
        for (uint256 slot = base; slot < base + 16; ++slot) {
            uint256 word = map[slot];
            if (word == 0) continue;
            uint256 renumbered;
            uint256 lastOld;
            uint256 lastNew;
            for (uint256 shift; shift < 256; shift += 16) {
                uint256 e = (word >> shift) & LANE;
                if (e == 0) continue;
                if (e != lastOld) {
                    lastOld = e;
                    for (uint256 h = e & 511;; h = (h + 1) & 511) {
                        uint256 found = seen[h];
                        if (found == 0) {
                            olds[live] = e;
                            lastNew = ++live;
                            seen[h] = (e << 16) | lastNew;
                            break;
                        }
                        if (found >> 16 == e) {
                            lastNew = found & LANE;
                            break;
                        }
                    }
                }
                renumbered |= lastNew << shift;
            }
            map[slot] = renumbered;
        }
        // every live key is read from the old table before a word of it is rewritten
        uint256[] memory keys = new uint256[](live);
        for (uint256 i; i < live; ++i) {
            keys[i] = _entry(map, blockIndex, olds[i]);
        }
        uint256 at0 = TABLE | (blockIndex << 16);
        uint256 k; // the table word being built: entry e is lane e % 4 of word e / 4; word 0's lane 0 counts
        uint256 built = live;
        for (uint256 e = 1; e <= live; ++e) {
            if (e >> 2 != k) {
                map[at0 | k] = built;
                k = e >> 2;
                built = 0;
            }
            built |= keys[e - 1] << ((e & 3) << 6);
        }
        map[at0 | k] = built;
    }

    /// @dev The container key of entry `e` (non-zero) of block `blockIndex`'s table.
    function _entry(mapping(uint256 => uint256) storage map, uint256 blockIndex, uint256 e)
        private
        view
        returns (uint64)
    {
        return uint64(map[TABLE | (blockIndex << 16) | (e >> 2)] >> ((e & 3) << 6));
    }

    /// @dev {firstOther} for the 256 indexes of block `blockIndex` selected by `mask`. Packs moved together share an
    ///      entry, so after one table look-up a whole pointer word is compared at once.
    function _firstOther(mapping(uint256 => uint256) storage map, uint256 blockIndex, uint256 mask, bytes32 containerId)
        private
        view
        returns (uint256)
    {
        uint256 known; // an entry of this block known to name `containerId` (0: none yet, or `containerId` is 0)
        for (uint256 slot = blockIndex << 4; mask != 0; ++slot) {
            uint256 bits = mask & LANE;
            mask >>= 16;
            if (bits == 0) continue;
            uint256 lanes = _lanes(bits);
            uint256 word = map[slot];
            if (known == 0 && containerId != bytes32(0)) {
                // Resolve the first selected pack's entry: usually every other pack shares it.
                uint256 first = _lowestLane(lanes);
                uint256 e = (word >> (first << 4)) & LANE;
                if (e == 0 || idOf(_entry(map, blockIndex, e)) != containerId) return (slot << 4) + first;
                known = e;
            }
            uint256 diff = (word ^ (known * REPEAT)) & lanes;
            // All equal to a known entry; for `containerId` 0, all zero (a zero lane never names a container).
            if (diff == 0 && (known != 0 || containerId == bytes32(0))) continue;
            if (containerId == bytes32(0)) return (slot << 4) + _lowestLane(diff);
            for (uint256 lane; bits != 0; ++lane) {
                if (bits & 1 != 0) {
                    uint256 e = (word >> (lane << 4)) & LANE;
                    if (e == 0) return (slot << 4) + lane;
                    if (e != known) {
                        if (idOf(_entry(map, blockIndex, e)) != containerId) return (slot << 4) + lane;
                        known = e;
                    }
                }
                bits >>= 1;
            }
        }
        return NONE;
    }

    /// @dev Sets the pointers of the packs of one mask word, whose first pointer word is `base`, to `repeated`.
    function _write(mapping(uint256 => uint256) storage map, uint256 base, uint256 mask, uint256 repeated) private {
        for (uint256 slot = base; mask != 0; ++slot) {
            uint256 bits = mask & LANE;
            mask >>= 16;
            if (bits == 0) continue;
            uint256 lanes = _lanes(bits);
            map[slot] = (map[slot] & ~lanes) | (repeated & lanes);
        }
    }

    /// @dev The 16-bit lanes selected by the sixteen bits of `bits`: bit i moved to bit 16i by halving the stride
    ///      four times (8 bits to the upper 128, then 4 to the upper 64 of each half, 2, 1), then widened to a lane.
    function _lanes(uint256 bits) private pure returns (uint256) {
        unchecked {
            bits = (bits | (bits << 120)) & 0x000000000000000000000000000000ff000000000000000000000000000000ff;
            bits = (bits | (bits << 60)) & 0x000000000000000f000000000000000f000000000000000f000000000000000f;
            bits = (bits | (bits << 30)) & 0x0000000300000003000000030000000300000003000000030000000300000003;
            bits = (bits | (bits << 15)) & REPEAT;
            return bits * LANE;
        }
    }

    /// @dev The lowest lane (0..15) with a set bit in `x` (non-zero).
    function _lowestLane(uint256 x) private pure returns (uint256 lane) {
        while (x & LANE == 0) {
            x >>= 16;
            ++lane;
        }
    }
}
