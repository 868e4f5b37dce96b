"""Organisations: registration, suspension, roles (AccessControl and the role bits mirrored from it)."""

from __future__ import annotations

from eth_utils import keccak

from tests.contracts.helpers import NO_PROOF, events, reverts, role, selector

ADMIN_ROLE = b"\0" * 32
GLN = 9506000000999


def test_registerOrganisation_registers_account_gln_and_roles(world):
    pt = world.pt
    receipt = world.send(
        pt.functions.registerOrganisation(world.spare, GLN, [role("DISTRIBUTOR_ROLE"), role("REGULATOR_ROLE")]),
        world.admin,
    )
    index, gln, suspended = pt.functions.organisation(world.spare).call()
    assert (gln, suspended) == (GLN, False)
    assert index == 7  # six organisations registered before
    assert pt.functions.organisationAt(index).call() == world.spare
    assert pt.functions.organisationByGln(GLN).call() == world.spare
    assert pt.functions.hasRole(role("DISTRIBUTOR_ROLE"), world.spare).call()
    assert pt.functions.hasRole(role("REGULATOR_ROLE"), world.spare).call()
    logged = events(pt, receipt)
    assert [name for name, _ in logged] == ["RoleGranted", "RoleGranted", "OrganisationRegistered"]
    assert logged[-1][1] == {
        "account": world.spare,
        "index": index,
        "gln": GLN,
        "roles": [role("DISTRIBUTOR_ROLE"), role("REGULATOR_ROLE")],
    }


def test_registerOrganisation_counts_roles_granted_before(world):
    pt = world.pt
    world.send(pt.functions.grantRole(role("MANUFACTURER_ROLE"), world.spare), world.admin)
    world.send(pt.functions.registerOrganisation(world.spare, GLN, []), world.admin)
    # The role bits the contract checks were taken from AccessControl at registration.
    world.send(pt.functions.registerProduct(9506000000017, 0, 100), world.spare)
    assert pt.functions.product(9506000000017).call()[0] == world.spare


def test_registerOrganisation_by_non_admin_reverts(world):
    call = world.pt.functions.registerOrganisation(world.spare, GLN, [])
    reverts(world.pt, call, world.maker, "AccessControlUnauthorizedAccount", world.maker, ADMIN_ROLE)


def test_registerOrganisation_zero_account_reverts(world):
    zero = "0x" + "00" * 20
    call = world.pt.functions.registerOrganisation(zero, GLN, [])
    reverts(world.pt, call, world.admin, "OrganisationInvalidAccount", zero)


def test_registerOrganisation_twice_reverts(world):
    call = world.pt.functions.registerOrganisation(world.maker, GLN, [])
    reverts(world.pt, call, world.admin, "OrganisationAlreadyRegistered", world.maker)


def test_registerOrganisation_invalid_gln_reverts(world):
    for gln in (0, 10**13):
        call = world.pt.functions.registerOrganisation(world.spare, gln, [])
        reverts(world.pt, call, world.admin, "OrganisationInvalidGln", gln)


def test_registerOrganisation_duplicate_gln_reverts(world):
    taken = world.pt.functions.organisation(world.maker).call()[1]
    call = world.pt.functions.registerOrganisation(world.spare, taken, [])
    reverts(world.pt, call, world.admin, "OrganisationDuplicateGln", taken, world.maker)


def test_registerOrganisation_unknown_role_reverts(world):
    for bad in (ADMIN_ROLE, keccak(text="PHARMACIST_ROLE")):
        call = world.pt.functions.registerOrganisation(world.spare, GLN, [role("DISPENSER_ROLE"), bad])
        reverts(world.pt, call, world.admin, "OrganisationInvalidRole", bad)


def test_suspendOrganisation_freezes_the_organisation(world):
    pt = world.pt
    receipt = world.send(pt.functions.suspendOrganisation(world.maker), world.admin)
    assert pt.functions.organisation(world.maker).call()[2] is True
    assert events(pt, receipt) == [("OrganisationSuspended", {"account": world.maker, "by": world.admin})]
    reverts(pt, pt.functions.registerProduct(9506000000017, 0, 1), world.maker, "OrganisationIsSuspended", world.maker)


def test_suspendOrganisation_by_non_admin_reverts(world):
    call = world.pt.functions.suspendOrganisation(world.maker)
    reverts(world.pt, call, world.regulator, "AccessControlUnauthorizedAccount", world.regulator, ADMIN_ROLE)


def test_suspendOrganisation_unregistered_reverts(world):
    call = world.pt.functions.suspendOrganisation(world.outsider)
    reverts(world.pt, call, world.admin, "OrganisationNotRegistered", world.outsider)


def test_suspendOrganisation_twice_reverts(world):
    world.send(world.pt.functions.suspendOrganisation(world.maker), world.admin)
    call = world.pt.functions.suspendOrganisation(world.maker)
    reverts(world.pt, call, world.admin, "OrganisationIsSuspended", world.maker)


def test_reinstateOrganisation_lifts_the_suspension(world):
    pt = world.pt
    world.send(pt.functions.suspendOrganisation(world.maker), world.admin)
    receipt = world.send(pt.functions.reinstateOrganisation(world.maker), world.admin)
    assert pt.functions.organisation(world.maker).call()[2] is False
    assert events(pt, receipt) == [("OrganisationReinstated", {"account": world.maker, "by": world.admin})]
    world.send(pt.functions.registerProduct(9506000000017, 0, 1), world.maker)


def test_reinstateOrganisation_by_non_admin_reverts(world):
    call = world.pt.functions.reinstateOrganisation(world.maker)
    reverts(world.pt, call, world.maker, "AccessControlUnauthorizedAccount", world.maker, ADMIN_ROLE)


def test_reinstateOrganisation_unregistered_reverts(world):
    call = world.pt.functions.reinstateOrganisation(world.outsider)
    reverts(world.pt, call, world.admin, "OrganisationNotRegistered", world.outsider)


def test_reinstateOrganisation_not_suspended_reverts(world):
    call = world.pt.functions.reinstateOrganisation(world.maker)
    reverts(world.pt, call, world.admin, "OrganisationNotSuspended", world.maker)


def test_grantRole_gives_a_registered_organisation_the_role(world):
    pt = world.pt
    receipt = world.send(pt.functions.grantRole(role("DISPENSER_ROLE"), world.distributor), world.admin)
    assert pt.functions.hasRole(role("DISPENSER_ROLE"), world.distributor).call()
    assert events(pt, receipt)[0][0] == "RoleGranted"
    case = world.pack_case(1, 0, 10)
    world.deliver([case], world.maker, world.distributor)
    world.dispense(case, [3], by=world.distributor)
    assert world.pack_state(3)[1] is True


def test_grantRole_by_non_admin_reverts(world):
    call = world.pt.functions.grantRole(role("DISPENSER_ROLE"), world.distributor)
    reverts(world.pt, call, world.maker, "AccessControlUnauthorizedAccount", world.maker, ADMIN_ROLE)


def test_revokeRole_takes_the_role_away(world):
    pt = world.pt
    case = world.pack_case(1, 0, 10)
    world.deliver([case], world.maker, world.pharmacy)
    receipt = world.send(pt.functions.revokeRole(role("DISPENSER_ROLE"), world.pharmacy), world.admin)
    assert not pt.functions.hasRole(role("DISPENSER_ROLE"), world.pharmacy).call()
    assert events(pt, receipt)[0][0] == "RoleRevoked"
    call = pt.functions.dispenseDay([(case, world.lot_id, (0, [1]), NO_PROOF)], [], [])
    reverts(pt, call, world.pharmacy, "OrganisationMissingRole", world.pharmacy, role("DISPENSER_ROLE"))


def test_revokeRole_by_non_admin_reverts(world):
    call = world.pt.functions.revokeRole(role("DISPENSER_ROLE"), world.pharmacy)
    reverts(world.pt, call, world.pharmacy2, "AccessControlUnauthorizedAccount", world.pharmacy2, ADMIN_ROLE)


def test_renounceRole_drops_the_callers_role(world):
    pt = world.pt
    world.send(pt.functions.renounceRole(role("MANUFACTURER_ROLE"), world.maker), world.maker)
    assert not pt.functions.hasRole(role("MANUFACTURER_ROLE"), world.maker).call()
    call = pt.functions.registerProduct(9506000000017, 0, 1)
    reverts(pt, call, world.maker, "OrganisationMissingRole", world.maker, role("MANUFACTURER_ROLE"))


def test_renounceRole_for_another_account_reverts(world):
    call = world.pt.functions.renounceRole(role("MANUFACTURER_ROLE"), world.maker)
    reverts(world.pt, call, world.maker2, "AccessControlBadConfirmation")


def test_supportsInterface_names_pharmatrack_and_access_control(world):
    pt = world.pt
    interface_id = 0
    for item in _interface_functions(pt):
        interface_id ^= int.from_bytes(selector(item), "big")
    assert pt.functions.supportsInterface(interface_id.to_bytes(4, "big")).call()
    assert pt.functions.supportsInterface(bytes.fromhex("7965db0b")).call()  # IAccessControl
    assert pt.functions.supportsInterface(bytes.fromhex("01ffc9a7")).call()  # ERC-165
    assert not pt.functions.supportsInterface(bytes.fromhex("ffffffff")).call()


def _interface_functions(pt):
    """The functions IPharmaTrack declares: everything but AccessControl's, Multicall's and the role constants."""
    inherited = {
        "DEFAULT_ADMIN_ROLE",
        "MANUFACTURER_ROLE",
        "DISTRIBUTOR_ROLE",
        "DISPENSER_ROLE",
        "REGULATOR_ROLE",
        "getRoleAdmin",
        "grantRole",
        "hasRole",
        "renounceRole",
        "revokeRole",
        "supportsInterface",
        "multicall",
    }
    return [item for item in pt.abi if item["type"] == "function" and item["name"] not in inherited]


def test_getRoleAdmin_is_the_default_admin_role(world):
    assert world.pt.functions.getRoleAdmin(role("DISPENSER_ROLE")).call() == ADMIN_ROLE


def test_role_constants_are_keccak_of_their_names(world):
    for name in ("MANUFACTURER_ROLE", "DISTRIBUTOR_ROLE", "DISPENSER_ROLE", "REGULATOR_ROLE"):
        assert getattr(world.pt.functions, name)().call() == role(name)
