"""The pages in a real Chromium against the real stack (anvil, Postgres, the app, relayer and indexer): sign-in,
and a pharmacist's day at the counter — a good pack verified and dispensed, a counterfeit, a recalled one. Every
page passes axe-core (no serious or critical violation) and is saved as a screenshot under build/screenshots/."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from app.db import connect, fetch_all
from app.services import alerts, people
from tests.web.browser import PHONE, camera_film, check_page, chromium, require_browser, serving
from tests.web.helpers import PASSWORD, add_org, add_person

require_browser()

pytestmark = pytest.mark.integration


def _wait(driver, css: str, timeout: float = 30.0):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))


def _wait_all(driver, css: str, timeout: float = 30.0) -> list:
    _wait(driver, css, timeout)
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, css)


def _wait_attribute(driver, css: str, name: str, value: str, timeout: float = 30.0) -> None:
    """Until the element (found anew each time: the page may be reloading) has the attribute's value."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
        lambda d: d.find_element(By.CSS_SELECTOR, css).get_attribute(name) == value
    )


def _wait_text(driver, css: str, text: str, timeout: float = 60.0) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))


def _sign_in(driver, base: str, email: str, password: str = PASSWORD) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/login")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()


def _sign_out(driver) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    _wait(driver, "#email")


def test_sign_in_and_out_in_a_browser(driver, web_app, database_url):
    from selenium.webdriver.common.by import By

    gln = add_org(database_url, "Riverside Pharmacy", ["dispenser"])
    email = add_person(database_url, gln, "pharmacist")
    driver.set_window_size(*PHONE)
    with serving(web_app) as base:
        driver.delete_all_cookies()
        driver.get(base + "/pharmacy")
        assert driver.current_url == base + "/login"  # no session: the sign-in page
        _wait(driver, "#email")
        check_page(driver, "login")
        _sign_in(driver, base, email, "not the password")
        assert "Email or password is wrong." in _wait(driver, ".problem").text
        check_page(driver, "login-refused")
        _sign_in(driver, base, email)
        _wait(driver, "#code")
        assert driver.current_url == base + "/pharmacy"
        cookie = driver.get_cookie("pharmatrack_session")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
        # the pharmacy's admin invites a colleague, who sets a password through the link and is signed in
        driver.delete_all_cookies()
        _sign_in(driver, base, add_person(database_url, gln, "admin"))
        _wait(driver, "table")  # an admin starts on the audit trail
        driver.find_element(By.LINK_TEXT, "People").click()
        _wait(driver, "#invite-email")
        check_page(driver, "admin")
        driver.find_element(By.ID, "invite-email").send_keys("nia@riverside.example")
        driver.find_element(By.ID, "invite-name").send_keys("Nia New")
        driver.find_element(By.CSS_SELECTOR, "form[action='/admin/people'] button").click()
        link = _wait(driver, "#invite-link").text
        assert link.startswith(base + "/invite/")
        check_page(driver, "admin-invited")
        driver.delete_all_cookies()
        driver.get(link)
        _wait(driver, "#confirm")
        check_page(driver, "invite")
        for field in ("password", "confirm"):
            driver.find_element(By.ID, field).send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "main form button").click()
        _wait(driver, "#code")
        assert "Nia New" in driver.find_element(By.CSS_SELECTOR, ".who").text
        driver.delete_all_cookies()
        _sign_in(driver, base, email)
        _wait(driver, "#code")
        # disabled while signed in: the next request lands on the sign-in page
        conn = connect(database_url)
        with conn:
            people.disable(conn, email)
        conn.close()
        driver.get(base + "/pharmacy")
        _wait(driver, "#email")
        assert driver.current_url == base + "/login"


@contextmanager
def pumping(world):
    """The relayer and the indexer at work in a thread, as `pharmatrack up` runs them beside the API."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def run():
        while not stop.is_set():
            try:
                world.relayer.run_once()
                world.indexer.run_until_caught_up()
            except BaseException as exc:  # handed to the test below: a dead pump must fail it
                failures.append(exc)
                return
            stop.wait(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
    assert not failures, failures


def _scan(driver, *keys) -> str:
    """Type into the scan field as a keyboard-wedge scanner does, Enter at the end; the verdict shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = driver.find_element(By.ID, "code")
    field.clear()
    before = driver.find_elements(By.CSS_SELECTOR, "#result .verdict")
    field.send_keys(*keys, Keys.ENTER)
    if before:  # the old answer is replaced
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(driver, 30).until(ec.staleness_of(before[0]))
    return _wait(driver, "#result .verdict").get_attribute("data-verdict")


def test_a_pharmacists_day_in_a_browser(driver, world, stock, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    p = world.parties
    gtin, lot = stock["gtin"], stock["lot"]
    # the maker's pallet reaches the pharmacy, which opens it
    world.done("maker", world.post("maker", "/v1/shipments", {"units": [stock["pallet"]], "to": p["pharmacy"].gln}))
    world.done("pharmacy", world.post("pharmacy", "/v1/receipts", {"units": [stock["pallet"]]}))
    world.done("pharmacy", world.post("pharmacy", "/v1/unpackings", {"units": [stock["pallet"]]}))
    database_url = world.settings.database_url
    pharmacist = add_person(database_url, p["pharmacy"].gln, "pharmacist")
    quality = add_person(database_url, p["pharmacy"].gln, "quality")
    app = world.client.application  # SESSION_COOKIE_SECURE's default: Chromium keeps Secure cookies on loopback HTTP
    gs = Keys.CONTROL + "]" + Keys.NULL  # how a keyboard-wedge scanner types the DataMatrix's GS separator
    with serving(app) as base, pumping(world):
        driver.set_window_size(*PHONE)
        driver.delete_all_cookies()
        _sign_in(driver, base, pharmacist)
        _wait(driver, "#code")
        check_page(driver, "pharmacy")

        # a good pack, scanned as the DataMatrix's raw text: verified, with its name, lot and expiry
        verdict = _scan(driver, f"]d201{gtin}21S0000000001", gs, f"10{lot}", gs, "17301231")
        assert verdict == "verified"
        result = driver.find_element(By.ID, "result").text
        assert "Verified" in result and "Amoxicillin 500 mg" in result and "500 mg" in result
        assert lot in result and "2030-12-31" in result
        driver.find_element(By.CSS_SELECTOR, ".proof summary").click()  # check it yourself
        assert _wait(driver, "[data-proof]").get_attribute("data-proof") == "match"
        check_page(driver, "pharmacy-verified")
        driver.find_element(By.CSS_SELECTOR, "form[action='/pharmacy/dispense'] button").click()
        assert "Dispensed" in _wait(driver, "[data-operation='confirmed']", 60).text
        check_page(driver, "pharmacy-dispensed")
        # dispensed by mistake: undone (EU FMD), and the pack is verified again; then dispensed for good
        driver.find_element(By.CSS_SELECTOR, "form[action='/pharmacy/undo-dispense'] button").click()
        _wait_text(driver, "#dispense-result", "Dispense undone: the pack is back in stock")
        assert _scan(driver, f"(01){gtin}(21)S0000000001(10){lot}(17)301231") == "verified"
        driver.find_element(By.CSS_SELECTOR, "form[action='/pharmacy/dispense'] button").click()
        assert "Dispensed" in _wait(driver, "[data-operation='confirmed']", 60).text
        # the same pack again: already dispensed
        assert _scan(driver, f"(01){gtin}(21)S0000000001(10){lot}(17)301231") == "dispensed"
        assert "Do not dispense" in driver.find_element(By.CSS_SELECTOR, ".verdict").text

        # a counterfeit: a serial the lot never had
        assert _scan(driver, f"(01){gtin}(21)S9999999999(10){lot}(17)301231") == "counterfeit"
        text = driver.find_element(By.ID, "result").text
        assert "Do not dispense" in text and "never made" in text and "Quarantine the pack" in text
        assert not driver.find_elements(By.CSS_SELECTOR, "form[action='/pharmacy/dispense']")
        check_page(driver, "pharmacy-counterfeit")

        # the phone's camera: Chromium's fake camera films a pack's DataMatrix (GS separators inside)
        film = camera_film(f"01{gtin}21S0000000003\x1d10{lot}\x1d17301231", tmp_path / "datamatrix.y4m")
        phone = chromium("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                         f"--use-file-for-fake-video-capture={film}")  # fmt: skip
        try:
            phone.set_window_size(*PHONE)
            _sign_in(phone, base, pharmacist)
            _wait(phone, "#camera-start").click()
            assert _wait(phone, "#result .verdict").get_attribute("data-verdict") == "verified"
            assert "S0000000003" in phone.find_element(By.ID, "result").text
            assert phone.find_element(By.ID, "code").get_attribute("value").startswith(f"01{gtin}21S0000000003")
            check_page(phone, "pharmacy-camera")
        finally:
            phone.quit()

        # the maker's quality lead recalls the lot on the recalls page, after its confirmation page
        recaller = chromium()
        try:
            recaller.set_window_size(*PHONE)
            _sign_in(recaller, base, add_person(database_url, p["maker"].gln, "quality"))
            _wait(recaller, "table")
            recaller.get(base + "/recalls")
            _wait(recaller, "#recall-code").send_keys(f"(01){gtin}(10){lot}", Keys.ENTER)
            assert _wait(recaller, "dd[data-verdict]").get_attribute("data-verdict") == "verified"
            assert "100" in recaller.find_element(By.CSS_SELECTOR, ".facts").text  # the lot's packs
            check_page(recaller, "recall-confirm")
            recaller.find_element(By.CSS_SELECTOR, "button.danger").click()
            _wait(recaller, "[data-operation]")
            deadline = time.monotonic() + 60
            while not recaller.find_elements(By.CSS_SELECTOR, f"tr[data-lot='{lot}']"):
                assert time.monotonic() < deadline, "the recall never showed"
                time.sleep(0.2)
                recaller.get(base + "/recalls")
            check_page(recaller, "recalls")
        finally:
            recaller.quit()
        assert _scan(driver, f"(01){gtin}(21)S0000000002(10){lot}(17)301231") == "recalled"
        assert "recalled" in driver.find_element(By.ID, "result").text
        check_page(driver, "pharmacy-recalled")
        # an unreadable code is named, not a crash
        assert _scan(driver, "(01)12345678901234(21)X") is None
        assert "Code not readable" in driver.find_element(By.ID, "result").text
        _sign_out(driver)

        # the pharmacy's quality lead reads what was done, on a desktop
        driver.set_window_size(1280, 900)
        _sign_in(driver, base, quality)
        _wait(driver, "table")
        assert driver.current_url == base + "/audit"
        trail = driver.find_element(By.TAG_NAME, "table").text
        assert pharmacist in trail and "dispense" in trail and "accepted: operation" in trail
        check_page(driver, "audit")
        # and the dispensed pack's provenance, as the API shows it to the pharmacy
        driver.find_element(By.LINK_TEXT, "Investigate").click()
        _wait(driver, "#code").send_keys(f"(01){gtin}(21)S0000000001", Keys.ENTER)
        events = [row.get_attribute("data-event") for row in _wait_all(driver, "tr[data-event]")]
        assert events[0] == "commissioned" and events[-1] == "recalled" and "dispensed" in events
        assert "undone" in events and events.count("dispensed") == 2
        check_page(driver, "investigate")

        # an alert about the counterfeit naming the pharmacy: its quality lead acknowledges, an inspector closes it
        with world.db.connection() as conn:
            org_id = fetch_all(conn, "SELECT id FROM organisations WHERE gln = %s", (p["pharmacy"].gln,))[0]["id"]
            alert = alerts.raise_alert(conn, "serial_not_in_lot", f"{gtin}/S9999999999", "a serial not in its lot",
                                       {"code": "S9999999999"}, [org_id], gtin=gtin)["id"]  # fmt: skip
        driver.find_element(By.LINK_TEXT, "Alerts").click()
        card = f"article[data-alert='{alert}']"
        _wait(driver, card)
        driver.find_element(By.ID, f"note-{alert}").send_keys("pack quarantined, supplier told")
        driver.find_element(By.CSS_SELECTOR, f"{card} form[action$='/acknowledge'] button").click()
        _wait_attribute(driver, card, "data-status", "acknowledged")  # the page comes back (post, redirect, get)
        check_page(driver, "alerts")
        _sign_out(driver)
        inspector = add_person(database_url, p["regulator"].gln, "inspector")
        _sign_in(driver, base, inspector)
        _wait(driver, "table")
        driver.find_element(By.LINK_TEXT, "Alerts").click()
        _wait(driver, f"#resolution-{alert}").send_keys("counterfeit confirmed; FDA 3911 filed")
        driver.find_element(By.CSS_SELECTOR, f"{card} form[action$='/close'] button").click()
        _wait_attribute(driver, card, "data-status", "closed")
        assert "FDA 3911 filed" in driver.find_element(By.CSS_SELECTOR, card).text
        check_page(driver, "alerts-closed")
    conn = connect(database_url)
    try:
        rows = fetch_all(conn, "SELECT action, outcome FROM audit_trail WHERE email = %s ORDER BY id", (pharmacist,))
        logged = fetch_all(conn, "SELECT verdict FROM verifications WHERE channel = 'web' ORDER BY id")
    finally:
        conn.close()
    assert [(r["action"], r["outcome"].split(":")[0]) for r in rows] == [
        ("sign_in", "ok"), ("verify", "verified"), ("dispense", "accepted"), ("undo_dispense", "accepted"),
        ("verify", "verified"), ("dispense", "accepted"), ("verify", "dispensed"), ("verify", "counterfeit"),
        ("sign_in", "ok"), ("verify", "verified"),  # the phone's camera
        ("verify", "recalled"), ("verify", "unreadable"), ("sign_out", "ok"),
    ]  # fmt: skip
    assert [r["verdict"] for r in logged] == [
        "verified",
        "verified",
        "dispensed",
        "counterfeit",
        "verified",
        "recalled",
    ]
