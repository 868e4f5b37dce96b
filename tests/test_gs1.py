"""app.gs1: every accepted input form, every refusal (field + rule), and renderer round trips."""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import date

import pytest
from biip.checksums import gs1_standard_check_digit
from hypothesis import given, settings
from hypothesis import strategies as st

from app import gs1
from app.gs1 import (
    CSET82,
    GS,
    MAX_INPUT_LENGTH,
    GS1Error,
    Kind,
    LogisticUnit,
    Lot,
    Pack,
    Product,
    parse,
    parse_gln,
    parse_gtin,
    parse_sscc,
    to_digital_link,
    to_element_string,
    to_epc_uri,
    to_scan_data,
)

GTIN = "09506000134352"
SSCC = "106141412345678908"
PACK = Pack(GTIN, "ABC123", "L42", date(2027, 12, 31))

VALID = [
    # element strings with parentheses
    ("(01)09506000134352(21)ABC123(10)L42(17)271231", None, PACK),
    ("(01) 09506000134352 (21) ABC123 (10) L42 (17) 271231", None, PACK),
    ("(01)09506000134352(17)271231(10)L42(21)ABC123", None, PACK),
    ("(01)09506000134352(21)ABC123", None, Pack(GTIN, "ABC123")),
    ("(01)09506000134352(10)L42(17)270200", None, Lot(GTIN, "L42", date(2027, 2, 28))),
    ("(01)09506000134352(10)L42(17)280200", None, Lot(GTIN, "L42", date(2028, 2, 29))),
    ("(01)09506000134352", None, Product(GTIN)),
    ("(00)106141412345678908", None, LogisticUnit(SSCC)),
    ("(01)09506000134352(21)AB\\(12)C", None, Pack(GTIN, "AB(12)C")),
    ("(01)09506000134352(21)AB(C)D", None, Pack(GTIN, "AB(C)D")),
    ("(01)09506000134352(21)X(710)1234567", None, Pack(GTIN, "X")),  # NHRN etc. are ignored
    ("(01)09506000134352(21)X(21)X", None, Pack(GTIN, "X")),  # a repeat with the same value is harmless
    # raw scan data: symbology identifiers, GS separators, plain unbracketed
    ("]d20109506000134352" + "21ABC123" + GS + "10L42" + GS + "17271231", None, PACK),
    ("]C10109506000134352" + "17271231" + "10L42" + GS + "21ABC123", None, PACK),
    ("]Q30109506000134352" + "21ABC123" + GS + "10L42" + GS + "17271231", None, PACK),
    ("]d2" + GS + "0109506000134352" + "21ABC123" + GS + "10L42" + GS + "17271231" + GS, None, PACK),
    ("0109506000134352" + "21ABC123" + GS + "10L42" + GS + "17271231", None, PACK),
    (GS + "0109506000134352" + "21ABC123" + GS + "10L42" + GS + "17271231\r\n", None, PACK),
    ("00106141412345678908", None, LogisticUnit(SSCC)),
    ("]E09506000134352", None, Product(GTIN)),
    ("]Q1https://id.example.com/01/09506000134352/21/ABC123", None, Pack(GTIN, "ABC123")),
    # GS1 Digital Link
    ("https://id.example.com/01/09506000134352/21/ABC123?17=271231&10=L42", None, PACK),
    ("https://id.example.com/01/09506000134352/10/L42/21/ABC123?17=271231", None, PACK),
    ("HTTP://Example.COM/some/prefix/01/09506000134352/21/ABC123?10=L42&17=271231", None, PACK),
    (
        "https://id.example.com/01/09506000134352/21/ABC123?linkType=gs1:verificationService"
        "&reqGLN=9506000134352&corrUUID=1f3e&context=dscsaSaleableReturn&10=L42&17=271231",
        None,
        PACK,
    ),
    ("https://id.example.com/01/09506000134352/10/L42?17=271231", None, Lot(GTIN, "L42", date(2027, 12, 31))),
    ("https://id.example.com/01/09506000134352/10/L%2F42", None, Lot(GTIN, "L/42")),
    ("https://id.example.com/01/09506000134352/21/A+B?10=C+D", None, Pack(GTIN, "A+B", "C+D")),
    ("https://id.example.com/01/9506000134352", None, Product(GTIN)),
    ("https://id.example.com/00/106141412345678908", None, LogisticUnit(SSCC)),
    # EPC URIs (Tag Data Standard)
    ("urn:epc:id:sgtin:9506000.013435.ABC123", None, Pack(GTIN, "ABC123")),
    ("urn:epc:id:sgtin:950600.0013435.A%2FB%25C%22", None, Pack(GTIN, 'A/B%C"')),
    ("urn:epc:id:sgtin:9506000134.035.1", None, Pack(GTIN, "1")),
    ("URN:EPC:ID:SGTIN:9506000.013435.a.b:c", None, Pack(GTIN, "a.b:c")),
    ("urn:epc:id:sscc:0614141.1234567890", None, LogisticUnit(SSCC)),
    ("urn:epc:class:lgtin:9506000.013435.L42", None, Lot(GTIN, "L42")),
    # bare keys, only when the caller says what it expects
    ("09506000134352", {Kind.PRODUCT}, Product(GTIN)),
    ("9506000134352", {"product"}, Product(GTIN)),
    ("614141123452", {"product", "pack"}, Product("00614141123452")),
    ("96385074", {"product"}, Product("00000096385074")),
    ("106141412345678908", {Kind.LOGISTIC_UNIT}, LogisticUnit(SSCC)),
    ("(01)09506000134352(21)ABC123", {Kind.PACK, Kind.LOT}, Pack(GTIN, "ABC123")),
]


@pytest.mark.parametrize(("code", "expect", "expected"), VALID)
def test_valid_forms(code, expect, expected):
    assert parse(code, expect) == expected


INVALID = [
    # check digits
    ("(01)09506000134353(21)X", None, "gtin", "check_digit"),
    ("(00)106141412345678907", None, "sscc", "check_digit"),
    ("0109506000134353" + "21X", None, "gtin", "check_digit"),
    ("https://id.example.com/01/09506000134353/21/X", None, "gtin", "check_digit"),
    ("https://id.example.com/00/106141412345678907", None, "sscc", "check_digit"),
    ("(01)00000000000000", None, "gtin", "format"),
    # dates
    ("(01)09506000134352(10)L(17)271331", None, "expiry", "date"),
    ("(01)09506000134352(10)L(17)270230", None, "expiry", "date"),
    ("(01)09506000134352(10)L(17)270000", None, "expiry", "date"),
    ("(01)09506000134352(10)L(17)2712", None, "expiry", "length"),
    ("(01)09506000134352(10)L(17)27123A", None, "expiry", "charset"),
    ("https://id.example.com/01/09506000134352/10/L?17=271331", None, "expiry", "date"),
    # serial and lot: length and character set 82
    ("(01)09506000134352(21)ABCDEFGHIJKLMNOPQRSTU", None, "serial", "length"),
    ("(01)09506000134352(21)AB#C", None, "serial", "charset"),
    ("(01)09506000134352(21)AB~C", None, "serial", "charset"),
    ("(01)09506000134352(21)AB\\C", None, "serial", "charset"),
    ("(01)09506000134352(21)X(10)ABCDEFGHIJKLMNOPQRSTU", None, "lot", "length"),
    ("(01)09506000134352(10)L$1", None, "lot", "charset"),
    ("0109506000134352" + "21ABCDEFGHIJKLMNOPQRST1012345", None, "serial", "length"),  # biip would split it
    ("0109506000134352" + "21AB#C" + GS + "10L", None, "serial", "charset"),
    ("https://id.example.com/01/09506000134352/21/ABCDEFGHIJKLMNOPQRSTU", None, "serial", "length"),
    ("https://id.example.com/01/09506000134352/21/A%23B", None, "serial", "charset"),
    ("https://id.example.com/01/09506000134352/21/%D9%A0", None, "serial", "charset"),
    ("https://id.example.com/01/09506000134352/21/X?10=ABCDEFGHIJKLMNOPQRSTU", None, "lot", "length"),
    ("urn:epc:id:sgtin:9506000.013435.ABCDEFGHIJKLMNOPQRSTU", None, "serial", "length"),
    ("urn:epc:id:sgtin:9506000.013435.A%ZZ", None, "serial", "charset"),
    ("urn:epc:id:sgtin:9506000.013435.A%7E", None, "serial", "charset"),
    # GTIN / SSCC shape
    ("(01)0950600013435(21)X", None, "gtin", "length"),
    ("(01)0950600013435A(21)X", None, "gtin", "charset"),
    ("0109506000134", None, "gtin", "length"),
    ("(00)10614141234567890", None, "sscc", "length"),
    # missing parts and the wrong kind
    ("(01)09506000134352(10)L42", {Kind.PACK}, "serial", "missing"),
    ("(01)09506000134352", {"pack"}, "serial", "missing"),
    ("https://id.example.com/01/09506000134352", {"pack"}, "serial", "missing"),
    ("(01)09506000134352", {"lot"}, "lot", "missing"),
    ("(01)09506000134352(21)", None, "serial", "missing"),
    ("(01)(21)X", None, "gtin", "missing"),
    ("(21)X(10)L", None, "gtin", "missing"),
    ("(414)9506000134352", None, "code", "missing"),
    ("(00)106141412345678908", {Kind.PACK}, "code", "unexpected_kind"),
    ("(01)09506000134352(21)X", {Kind.LOGISTIC_UNIT}, "code", "unexpected_kind"),
    ("(01)09506000134352(21)X", {Kind.LOT}, "code", "unexpected_kind"),
    ("urn:epc:id:sscc:0614141.1234567890", {"product"}, "code", "unexpected_kind"),
    # malformed or unknown AIs, and structure
    ("(99999)X", None, "code", "format"),
    ("(2)1X", None, "code", "format"),
    ("(01)09506000134352(210)X", None, "code", "format"),
    ("(01)09506000134352(2A)X", None, "gtin", "charset"),  # (2A) is data, not an AI
    ("X(01)09506000134352", None, "code", "format"),
    ("(0109506000134352", None, "code", "format"),
    ("(01)09506000134352(00)106141412345678908", None, "code", "format"),
    ("(01)09506000134352(21)X(21)Y", None, "serial", "format"),
    ("(01)09506000134352(11)271331", None, "code", "date"),
    ("09506000134352", None, "code", "format"),  # bare GTIN without expect
    ("9999", None, "code", "missing"),  # a valid (99) internal element, no key
    ("]", None, "code", "format"),
    ("]Y", None, "code", "format"),
    ("]Z0" + "0109506000134352", None, "code", "format"),
    ("]d1" + "0109506000134352", None, "code", "format"),
    # Digital Link paths
    ("https://id.example.com/01/09506000134352/21", None, "code", "format"),
    ("https://id.example.com/01/09506000134352/21/ABC/10/L42", None, "code", "format"),
    ("https://id.example.com/01/09506000134352/99/X", None, "code", "format"),
    ("https://id.example.com/ser/ABC", None, "code", "format"),
    ("https://id.example.com/01/09506000134352/21/A?21=B", None, "serial", "format"),
    ("https://id.example.com/01/09506000134352/21/", None, "serial", "missing"),
    ("https://[::1/01/09506000134352", None, "code", "format"),
    ("ftp://id.example.com/01/09506000134352", None, "code", "format"),
    # EPC URIs
    ("urn:epc:id:sgtin:95O6000.013435.X", None, "gtin", "charset"),
    ("urn:epc:id:sgtin:9506000.01343.X", None, "gtin", "length"),
    ("urn:epc:id:sgtin:95060.0013435.X", None, "gtin", "length"),
    ("urn:epc:id:sgtin:9506000.013435", None, "serial", "missing"),
    ("urn:epc:id:sgtin:9506000.013435.", None, "serial", "missing"),
    ("urn:epc:class:lgtin:9506000.013435", None, "lot", "missing"),
    ("urn:epc:id:sscc:061414A.1234567890", None, "sscc", "charset"),
    ("urn:epc:id:sscc:0614141.123456789", None, "sscc", "length"),
    ("urn:epc:id:sscc:0614141.1234567890.1", None, "code", "format"),
    ("urn:epc:id:grai:0614141.12345.400", None, "code", "format"),
    ("urn:epc:tag:sgtin-96:3.9506000.013435.1", None, "code", "format"),
    # the input itself
    ("", None, "code", "missing"),
    ("   \r\n", None, "code", "missing"),
    ("(01)09506000134352(21)" + "A" * MAX_INPUT_LENGTH, None, "code", "length"),
    ("(01)٠٩٥٠٦٠٠٠١٣٤٣٥٢(21)X", None, "code", "charset"),  # Arabic-Indic digits pass biip's \d
    ("(01)09506000134352(21)Ä", None, "code", "charset"),
]


@pytest.mark.parametrize(("code", "expect", "field", "rule"), INVALID)
def test_invalid_forms(code, expect, field, rule):
    with pytest.raises(GS1Error) as caught:
        parse(code, expect)
    assert (caught.value.field, caught.value.rule) == (field, rule), caught.value.message
    assert caught.value.message


def test_error_is_a_value_error_that_pickles():
    error = GS1Error("serial", "length", "too long")
    assert isinstance(error, ValueError)
    assert str(error) == "too long"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.field, copy.rule, copy.message) == ("serial", "length", "too long")


def test_non_string_code_is_refused():
    with pytest.raises(GS1Error) as caught:
        parse(1234)  # type: ignore[arg-type]
    assert caught.value.field == "code"


def test_unknown_or_empty_expect_is_a_programming_error():
    with pytest.raises(ValueError, match="pallet"):
        parse("(01)09506000134352", {"pallet"})
    with pytest.raises(ValueError, match="empty"):
        parse("(01)09506000134352", set())


@pytest.mark.parametrize(
    ("value", "gtin14"),
    [("96385074", "00000096385074"), ("614141123452", "00614141123452"), ("9506000134352", GTIN), (GTIN, GTIN)],
)
def test_parse_gtin_normalises_to_gtin14(value, gtin14):
    assert parse_gtin(value) == gtin14


@pytest.mark.parametrize(
    ("function", "value", "field", "rule"),
    [
        (parse_gtin, "09506000134353", "gtin", "check_digit"),
        (parse_gtin, "0950600013435", "gtin", "check_digit"),
        (parse_gtin, "950600013435", "gtin", "check_digit"),
        (parse_gtin, "095060001343", "gtin", "check_digit"),
        (parse_gtin, "0950600013", "gtin", "length"),
        (parse_gtin, "0950600013435X", "gtin", "charset"),
        (parse_gtin, "٠٩٥٠٦٠٠٠١٣٤٣٥٢", "gtin", "charset"),
        (parse_gtin, "", "gtin", "missing"),
        (parse_gtin, "00000000", "gtin", "format"),
        (parse_sscc, "106141412345678907", "sscc", "check_digit"),
        (parse_sscc, "10614141234567890", "sscc", "length"),
        (parse_sscc, "10614141234567890X", "sscc", "charset"),
        (parse_gln, "9506000134353", "gln", "check_digit"),
        (parse_gln, "950600013435", "gln", "length"),
        (parse_gln, " 9506000134352", "gln", "charset"),
    ],
)
def test_key_helpers_refuse(function, value, field, rule):
    with pytest.raises(GS1Error) as caught:
        function(value)
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_key_helpers_accept():
    assert parse_sscc(SSCC) == SSCC
    assert parse_gln("9506000134352") == "9506000134352"


@pytest.mark.parametrize(
    ("make", "field", "rule"),
    [
        (lambda: Product("9506000134352"), "gtin", "length"),  # GTIN-13: normalise with parse_gtin first
        (lambda: Pack(GTIN, ""), "serial", "missing"),
        (lambda: Pack(GTIN, "A" * 21), "serial", "length"),
        (lambda: Pack(GTIN, "X", lot="L#"), "lot", "charset"),
        (lambda: Pack(GTIN, "X", expiry="2027-12-31"), "expiry", "format"),
        (lambda: Lot(GTIN, "L", expiry=date(2027, 12, 31).timetuple()), "expiry", "format"),
        (lambda: LogisticUnit("106141412345678907"), "sscc", "check_digit"),
    ],
)
def test_values_are_valid_by_construction(make, field, rule):
    with pytest.raises(GS1Error) as caught:
        make()
    assert (caught.value.field, caught.value.rule) == (field, rule)


# --- rendering and round trips ------------------------------------------------------------

ITEMS = [
    PACK,
    Pack(GTIN, "A(B)C/D%E&F?G<H>I\"J'", "L/(1)", date(2030, 2, 28)),
    Pack("00614141123452", "1"),
    Lot(GTIN, "L42", date(2027, 12, 31)),
    Lot(GTIN, "L_42"),
    LogisticUnit(SSCC),
    Product(GTIN),
]


def test_renderings_of_the_example_pack():
    assert to_element_string(PACK) == "(01)09506000134352(21)ABC123(10)L42(17)271231"
    assert to_scan_data(PACK) == "]d20109506000134352" + "21ABC123" + GS + "10L42" + GS + "17271231"
    assert to_digital_link(PACK) == "https://id.gs1.org/01/09506000134352/10/L42/21/ABC123?17=271231"
    assert to_digital_link(PACK, "https://id.example.com/dl/") == (
        "https://id.example.com/dl/01/09506000134352/10/L42/21/ABC123?17=271231"
    )
    assert to_epc_uri(PACK, 7) == "urn:epc:id:sgtin:9506000.013435.ABC123"
    assert to_epc_uri(LogisticUnit(SSCC), 7) == "urn:epc:id:sscc:0614141.1234567890"
    assert to_epc_uri(Lot(GTIN, "L42"), 7) == "urn:epc:class:lgtin:9506000.013435.L42"
    assert to_element_string(Pack(GTIN, "A(B")) == "(01)09506000134352(21)A\\(B"


def _without_epc_extras(item):
    """An EPC carries only the key: a pack loses lot and expiry, a lot loses expiry."""
    if isinstance(item, Pack):
        return replace(item, lot=None, expiry=None)
    if isinstance(item, Lot):
        return replace(item, expiry=None)
    return item


def _assert_round_trips(item, company_prefix_length=7):
    assert parse(to_element_string(item)) == item
    assert parse(to_scan_data(item)) == item
    assert parse(to_scan_data(item, symbology="")) == item
    assert parse(to_digital_link(item)) == item
    assert parse(to_digital_link(item, base="https://id.example.com/some/prefix")) == item
    if not isinstance(item, Product):
        assert parse(to_epc_uri(item, company_prefix_length)) == _without_epc_extras(item)


@pytest.mark.parametrize("item", ITEMS, ids=repr)
def test_round_trips(item):
    _assert_round_trips(item)


def test_epc_uri_uses_biips_company_prefix_table_by_default():
    item = Pack("07032069804988", "X")  # biip: GS1 Norway, company prefix 703206
    assert to_epc_uri(item) == "urn:epc:id:sgtin:703206.0980498.X"
    assert parse(to_epc_uri(item)) == item


def test_renderer_refusals():
    with pytest.raises(GS1Error) as caught:
        to_epc_uri(Product(GTIN), 7)
    assert caught.value.rule == "unexpected_kind"
    with pytest.raises(ValueError, match=r"6\.\.12"):
        to_epc_uri(PACK, 13)
    with pytest.raises(ValueError, match="https"):
        to_digital_link(PACK, "id.example.com")
    with pytest.raises(GS1Error) as caught:  # 1970 would read back as 2070
        to_element_string(replace(PACK, expiry=date(1970, 1, 31)))
    assert (caught.value.field, caught.value.rule) == ("expiry", "date")


# --- properties ---------------------------------------------------------------------------

_TODAY = date.today()


def _with_check_digit(body: str) -> str:
    return body + str(gs1_standard_check_digit(body))


gtins = st.text(alphabet="0123456789", min_size=13, max_size=13).filter(lambda s: s.strip("0")).map(_with_check_digit)
ssccs = st.text(alphabet="0123456789", min_size=17, max_size=17).filter(lambda s: s.strip("0")).map(_with_check_digit)
texts82 = st.text(alphabet=sorted(CSET82), min_size=1, max_size=20)
# Inside the GS1 YYMMDD window (49 years back, 50 ahead) with a margin for the year turning.
expiries = st.dates(min_value=date(_TODAY.year - 45, 1, 1), max_value=date(_TODAY.year + 45, 12, 31))
items = st.one_of(
    st.builds(Pack, gtins, texts82, st.none() | texts82, st.none() | expiries),
    st.builds(Lot, gtins, texts82, st.none() | expiries),
    st.builds(LogisticUnit, ssccs),
    st.builds(Product, gtins),
)


@settings(max_examples=300, deadline=None)
@given(item=items, company_prefix_length=st.integers(6, 12))
def test_every_rendering_parses_back(item, company_prefix_length):
    _assert_round_trips(item, company_prefix_length)


@settings(deadline=None)
@given(gtin=gtins, serial=texts82, position=st.integers(0, 13), delta=st.integers(1, 9))
def test_any_single_digit_error_in_a_gtin_is_caught(gtin, serial, position, delta):
    wrong = gtin[:position] + str((int(gtin[position]) + delta) % 10) + gtin[position + 1 :]
    with pytest.raises(GS1Error) as caught:
        parse(f"(01){wrong}(21){serial}")
    assert (caught.value.field, caught.value.rule) in {("gtin", "check_digit"), ("gtin", "format")}


_VALID_CODES = [code for code, _, _ in VALID]


@settings(max_examples=500, deadline=None)
@given(
    code=st.one_of(
        st.text(max_size=80),
        st.text(alphabet="()0123456789" + GS + "]d2:/.%?=&", max_size=60),
        st.builds(
            lambda code, at, insert, cut: code[:at] + insert + code[at + cut :],
            st.sampled_from(_VALID_CODES),
            st.integers(0, 80),
            st.text(max_size=3),
            st.integers(0, 3),
        ),
    ),
    expect=st.none() | st.sets(st.sampled_from(list(Kind)), min_size=1),
)
def test_only_gs1_errors_escape(code, expect):
    """Whatever arrives, the caller gets a value or a GS1Error naming a known field and rule."""
    try:
        result = parse(code, expect)
    except GS1Error as error:
        assert error.field in {"code", "gtin", "serial", "lot", "expiry", "sscc"}
        assert error.rule in {"check_digit", "length", "charset", "date", "missing", "format", "unexpected_kind"}
    else:
        assert isinstance(result, Pack | Lot | LogisticUnit | Product)
        assert expect is None or result.kind in expect


def _outcome(code: str, expect):
    try:
        return parse(code, expect)
    except GS1Error as error:
        return ("error", error.field, error.rule, str(error))


@settings(max_examples=400, deadline=None)
@given(
    item=st.one_of(
        st.builds(Pack, gtins, texts82, st.none() | texts82, st.none() | expiries),
        st.builds(Lot, gtins, texts82, st.none() | expiries),
    ),
    at=st.integers(0, 120),
    insert=st.text(alphabet="0123456789/?=&%+#.:ABCabcé" + GS, max_size=4),
    cut=st.integers(0, 4),
    expect=st.none() | st.sets(st.sampled_from(list(Kind)), min_size=1),
)
def test_a_plain_digital_link_reads_as_biip_reads_it(item, at, insert, cut, expect):
    """The verification hot path reads a plain Digital Link without biip's URI parser (gs1._plain_digital_link):
    on any Digital Link, printed or mangled, it gives what biip's way gives, value or error."""
    uri = to_digital_link(item)
    mangled = uri[:at] + insert + uri[at + cut :]
    for code in (uri, mangled, mangled.upper(), mangled.replace("https://id.gs1.org", "http://example.com:8080")):
        fast = _outcome(code, expect)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(gs1, "_plain_digital_link", lambda uri: None)
            assert _outcome(code, expect) == fast, code


def test_the_plain_digital_link_way_is_taken():
    assert gs1._plain_digital_link(to_digital_link(PACK)) == PACK
    assert gs1._plain_digital_link("https://id.gs1.org/01/09506000134352/21/AB%2FC") == Pack(GTIN, "AB/C")
    assert gs1._plain_digital_link("https://id.gs1.org/dl/01/09506000134352/21/ABC") is None  # a path prefix
    assert gs1._plain_digital_link("https://id.gs1.org/01/09506000134352/21/A%C3%A9") is None  # biip's error


# --- malformed %-escapes (issue 12: a Digital Link serial "%ZZ" was taken as the serial "%ZZ") ---------------


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("https://id.gs1.org/01/09506000134352/21/%ZZ", "serial"),
        ("https://id.gs1.org/01/09506000134352/21/AB%2", "serial"),
        ("https://id.gs1.org/01/09506000134352/21/AB%", "serial"),
        ("https://id.gs1.org/01/09506000134352/10/L%G1", "lot"),
        ("https://id.gs1.org/01/09506000134352/21/AB?10=L1%", "lot"),
        ("https://id.gs1.org/01/09506000134352/21/AB?17=27%Z231", "expiry"),
        ("]Q1https://id.gs1.org/01/09506000134352/21/%ZZ", "serial"),
        ("urn:epc:id:sgtin:9506000.013435.%ZZ", "serial"),
    ],
)
def test_a_malformed_percent_escape_is_refused(code, field):
    with pytest.raises(GS1Error) as info:
        parse(code)
    assert (info.value.field, info.value.rule) == (field, "charset")
    assert "malformed %-escape" in info.value.message


def test_a_well_formed_percent_escape_is_decoded():
    assert parse("https://id.gs1.org/01/09506000134352/21/A%25B%2Fc") == Pack(GTIN, "A%B/c")
    assert parse("(01)09506000134352(21)A%ZZ") == Pack(GTIN, "A%ZZ")  # no %-encoding in an element string


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("(01)09506000134352(21)AB C", "serial"),
        ("(01)0950 6000134352(21)ABC", "gtin"),
        ("(01)09506000134352(10)L 1(21)A", "lot"),
    ],
)
def test_whitespace_inside_a_bracketed_value_is_refused_not_dropped(code, field):
    """`AB C` is not the serial `ABC`; whitespace around elements, as printed under a barcode, is fine."""
    with pytest.raises(GS1Error) as info:
        parse(code)
    assert (info.value.field, info.value.rule) == (field, "charset")
    assert parse(" (01) 09506000134352 (21) ABC ") == Pack(GTIN, "ABC")
