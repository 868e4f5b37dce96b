// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title NaiveCustody — the baseline `make bench-gas` compares PharmaTrack against
/// @notice What a first design does: one storage record per serial, one transaction per pack per step, containers
///         as fields of every pack, readings in storage. Not deployed by the service; benchmark only.
contract NaiveCustody {
    enum Status {
        None,
        Active,
        InTransit,
        Dispensed
    }

    struct Pack {
        bytes32 lotId;
        bytes32 caseId;
        bytes32 palletId;
        address holder;
        address recipient;
        Status status;
    }

    struct Reading {
        bytes32 sensorId;
        uint40 time;
        int16 value;
    }

    /// @notice The caller may not act on this pack.
    /// @param sgtinId the pack
    error NaiveNotAllowed(bytes32 sgtinId);

    /// @notice A pack changed state.
    /// @param sgtinId the pack
    /// @param step what happened
    /// @param actor who did it
    event PackStep(bytes32 indexed sgtinId, bytes32 indexed step, address indexed actor);

    /// @notice A reading was stored.
    /// @param unitId the logistic unit
    /// @param time when it was taken
    /// @param value centi-degrees Celsius
    event ReadingStored(bytes32 indexed unitId, uint40 time, int16 value);

    mapping(bytes32 sgtinId => Pack) public packs;
    mapping(bytes32 unitId => Reading[]) public readings;

    /// @notice Commission one pack.
    /// @param sgtinId the pack
    /// @param lotId its lot
    function commission(bytes32 sgtinId, bytes32 lotId) external {
        if (packs[sgtinId].status != Status.None) revert NaiveNotAllowed(sgtinId);
        packs[sgtinId] = Pack(lotId, 0, 0, msg.sender, address(0), Status.Active);
        emit PackStep(sgtinId, "commission", msg.sender);
    }

    /// @notice Put one pack in a case.
    /// @param sgtinId the pack
    /// @param caseId the case
    function packIntoCase(bytes32 sgtinId, bytes32 caseId) external {
        Pack storage p = _held(sgtinId);
        p.caseId = caseId;
        emit PackStep(sgtinId, "pack-case", msg.sender);
    }

    /// @notice Put one pack (through its case) on a pallet.
    /// @param sgtinId the pack
    /// @param palletId the pallet
    function packIntoPallet(bytes32 sgtinId, bytes32 palletId) external {
        Pack storage p = _held(sgtinId);
        p.palletId = palletId;
        emit PackStep(sgtinId, "pack-pallet", msg.sender);
    }

    /// @notice Take one pack off its pallet.
    /// @param sgtinId the pack
    function unpackPallet(bytes32 sgtinId) external {
        Pack storage p = _held(sgtinId);
        p.palletId = 0;
        emit PackStep(sgtinId, "unpack-pallet", msg.sender);
    }

    /// @notice Take one pack out of its case.
    /// @param sgtinId the pack
    function unpackCase(bytes32 sgtinId) external {
        Pack storage p = _held(sgtinId);
        p.caseId = 0;
        emit PackStep(sgtinId, "unpack-case", msg.sender);
    }

    /// @notice Ship one pack.
    /// @param sgtinId the pack
    /// @param to the recipient
    function ship(bytes32 sgtinId, address to) external {
        Pack storage p = _held(sgtinId);
        p.recipient = to;
        p.status = Status.InTransit;
        emit PackStep(sgtinId, "ship", msg.sender);
    }

    /// @notice Receive one pack.
    /// @param sgtinId the pack
    function receivePack(bytes32 sgtinId) external {
        Pack storage p = packs[sgtinId];
        if (p.status != Status.InTransit || p.recipient != msg.sender) revert NaiveNotAllowed(sgtinId);
        p.holder = msg.sender;
        p.recipient = address(0);
        p.status = Status.Active;
        emit PackStep(sgtinId, "receive", msg.sender);
    }

    /// @notice Dispense one pack.
    /// @param sgtinId the pack
    function dispense(bytes32 sgtinId) external {
        Pack storage p = _held(sgtinId);
        p.status = Status.Dispensed;
        emit PackStep(sgtinId, "dispense", msg.sender);
    }

    /// @notice Store one temperature reading of a logistic unit.
    /// @param unitId the unit
    /// @param sensorId the logger
    /// @param time when it was taken
    /// @param value centi-degrees Celsius
    function recordReading(bytes32 unitId, bytes32 sensorId, uint40 time, int16 value) external {
        readings[unitId].push(Reading(sensorId, time, value));
        emit ReadingStored(unitId, time, value);
    }

    function _held(bytes32 sgtinId) private view returns (Pack storage p) {
        p = packs[sgtinId];
        if (p.status != Status.Active || p.holder != msg.sender) revert NaiveNotAllowed(sgtinId);
    }
}
