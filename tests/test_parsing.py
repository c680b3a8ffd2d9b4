"""Names, ids and numbers are checked over the whole string, in ASCII: the class of bugs where `$` let a
trailing newline through (and into the scrape) and `int()` took `²` or `٣`, swept over the package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.audit import events as audit
from exporter.auth import tokens
from exporter.core.durations import parse_duration
from exporter.core.errors import BadRequest
from exporter.core.parsing import ascii_int, int_param, schema_pattern, whole
from exporter.http.problems import request_id_for
from exporter.http.routes import monitoring_models
from exporter.telemetry import custom as custom_metrics
from exporter.tenancy import regions
from exporter.tenancy.spec import TENANT_ID

PACKAGE = Path(__file__).resolve().parent.parent / "exporter"
REGEX_CALLS = {"compile", "match", "search", "fullmatch", "whole"}
# regexes that parse text we produce or receive from a library, not validate input
NOT_VALIDATION = {"core/yamlfile.py": "reads msgspec's own error messages",
                  "audit/events.py": "_SECRET_KEY searches detail keys for secret-looking words"}  # nothing else
TAILS = ["\n", "\r\n", "\x00", " "]


def _regex_uses(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, called name, literal or '') for every regex call, and every msgspec ``pattern=``."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        method = isinstance(node.func, ast.Attribute)  # re.match(...) or pattern.match(...), not a local match()
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        name = name if method or name == "whole" else ""
        args = list(node.args[:1]) if name in REGEX_CALLS else []
        args += [k.value for k in node.keywords if k.arg == "pattern"]
        literals = [a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if literals or name in REGEX_CALLS:
            found.append((node.lineno, name, literals[0] if literals else ""))
    return found


def test_no_validation_pattern_in_the_package_relies_on_dollar_or_match() -> None:
    """No regex literal is anchored with `^`/`$` (patterns go through `whole` for `fullmatch`, or
    `schema_pattern` for msgspec), and nothing checks input with `.match()` or `.search()`, outside the
    parsers listed as exempt."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if str(path.relative_to(PACKAGE)) in NOT_VALIDATION:
            continue
        for line, name, literal in _regex_uses(ast.parse(path.read_text())):
            if literal.startswith("^") or literal.endswith("$") or name in ("match", "search"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{line}: {name}({literal!r})")
    assert [] == offenders


def test_no_isdigit_isnumeric_or_bare_int_of_a_query_parameter() -> None:
    """`isdigit()`/`isnumeric()` (true for '²') and `int(...query...)` appear nowhere; `int_param` parses them."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE) == Path("core/parsing.py"):  # its docstring tells why
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\.(isdigit|isnumeric|isdecimal)\(\)|int\([^)]*query", line) and "ch.isdigit()" not in line:
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert [] == offenders


_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,30}", fullmatch=True)
_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}", fullmatch=True)
_actions = st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){1,3}", fullmatch=True)
_paths = st.from_regex(r"[a-z0-9_][a-z0-9_.]{0,8}(/[a-z0-9_][a-z0-9_.]{0,8}){0,3}", fullmatch=True)


def _custom_name_ok(name: str) -> bool:
    try:
        msgspec.json.decode(msgspec.json.encode({"name": name, "value": 1, "tags": {name: "v"}}),
                            type=monitoring_models.CustomMetricIn)
    except msgspec.ValidationError:
        return False
    return bool(custom_metrics._NAME.fullmatch(name))


def _action_ok(action: str) -> bool:
    try:
        audit.EventDraft("acme", action, audit.Actor.system("test"))
    except ValueError:
        return False
    return True


VALIDATORS = {
    "custom metric name and tag (API model and domain)": (_names, _custom_name_ok),
    "tenant, plan and region id": (_ids, lambda s: bool(TENANT_ID.fullmatch(s))),
    "audit action": (_actions, _action_ok),
    "regional feature path": (_paths, lambda s: bool(regions._FEATURE_PATH.fullmatch(s))),
    "X-Request-ID kept as sent": (_ids.filter(lambda s: len(s) <= 64), lambda s: request_id_for(_Headers(s)) == s),
    "API token shape": (st.builds(lambda _: tokens.new_token(), st.none()), tokens.well_formed),
}


class _Headers:
    """Just enough of a request for ``request_id_for``."""

    def __init__(self, request_id: str) -> None:
        self.headers = {"X-Request-ID": request_id}


@pytest.mark.parametrize("tail", TAILS, ids=repr)
@pytest.mark.parametrize("what", list(VALIDATORS))
def test_a_valid_value_with_a_trailing_newline_or_nul_is_refused(what: str, tail: str) -> None:
    """Each validator accepts generated valid values and refuses the same value with a control character or
    space appended."""
    strategy, accepts = VALIDATORS[what]

    @given(strategy)
    def check(value: str) -> None:
        assert (True, False) == (accepts(value), accepts(value + tail))

    check()


@pytest.mark.parametrize("raw", ["²", "٣", "1_000", " 7", "+7", "-1", "0x10", "1e3", "7\n", ""],
                         ids=["superscript two", "Arabic-Indic three", "underscore", "leading space", "plus sign",
                              "minus sign", "hex", "exponent", "trailing newline", "empty"])
def test_only_ascii_digits_are_an_integer(raw: str) -> None:
    """`ascii_int` takes 0-9 only, where `int()` would accept several of these or raise on others."""
    assert None is ascii_int(raw)


def test_int_param_bounds_and_absence() -> None:
    """Absent or empty is None; in range is the value; `²` and out-of-range values are a 400."""
    assert (None, None, 5) == (int_param({}, "limit", maximum=9), int_param({"limit": ""}, "limit", maximum=9),
                               int_param({"limit": "5"}, "limit", maximum=9))
    for raw in ("²", "0", "10"):
        with pytest.raises(BadRequest):
            int_param({"limit": raw}, "limit", maximum=9)


def test_schema_pattern_ends_at_the_end_of_the_string_for_re_search() -> None:
    """msgspec searches with `re`; the anchored pattern refuses a trailing newline that `$` would allow."""
    pattern = schema_pattern("[a-z]+")
    assert (True, False, False) == (bool(re.search(pattern, "abc")), bool(re.search(pattern, "abc\n")),
                                    bool(re.search(pattern, "x abc")))


def test_whole_refuses_anchors_and_is_ascii_only() -> None:
    """`whole` compiles for fullmatch (no ^/$ of its own) with `\\d` meaning 0-9 only."""
    with pytest.raises(ValueError, match="leave out"):
        whole("^[a-z]+$")
    assert (True, False) == (bool(whole(r"\d+").fullmatch("42")), bool(whole(r"\d+").fullmatch("٤٢")))


def test_durations_take_ascii_digits_only() -> None:
    """A duration with non-ASCII digits or a trailing newline is not a duration."""
    assert 90_000 == parse_duration("1m30s")
    for text in ("1m\n5s", "٣s", "5\ns"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(text)
