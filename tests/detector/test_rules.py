"""The detector's rules as data (app/detector/rules.py) against the rules the services declare
(app/services/alerts.py RULES, what the API lists and filters by)."""

from __future__ import annotations

import ast
from pathlib import Path

from app.detector import core, rules
from app.services import alerts


def test_the_detector_raises_exactly_the_declared_rules():
    assert set(alerts.RULES) == rules.RAISED
    assert len(alerts.RULES) == len(set(alerts.RULES))


def test_every_reason_maps_to_a_declared_rule_and_severity():
    for reason, (rule, severity, summary) in rules.REASONS.items():
        assert rule in alerts.RULES, reason
        assert severity in alerts.SEVERITIES and summary, reason


def test_the_detector_names_no_rule_of_its_own():
    """Every rule name the detector's loop passes is one of rules.py's: no string literal in core.py is a rule."""
    source = Path(core.__file__).read_text()
    literals = {
        n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    assert literals & set(alerts.RULES) == set()


def test_rules_of_a_verification_are_raised_once_each():
    assert rules.rules_of(["dispensed", "already_dispensed", "expired", "no_such_reason"]) == {
        rules.REASONS["dispensed"],
        rules.REASONS["expired"],
    }
    assert rules.rules_of([]) == set()
