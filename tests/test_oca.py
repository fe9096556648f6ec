"""ESO's OCA classification rules: the language, instruments typed by them, and UVES held to them."""

from __future__ import annotations

import functools
import operator
import textwrap
from itertools import product

import pytest
from astropy.io import fits

from core.rules import identify, load_rules
from core.rules.eso_pipelines import EsoPipelineRules, find_oca_files
from core.rules.oca import BooleanOp, Comparison, Keyword, Literal, OcaError, fits_keyword, parse_oca
from tests.test_rules import UVES_TYPES, uves_type_header

RULES = """
// Catch-all first: later rules overwrite it.
if DPR.CATG like "%TEST%" then
{
  DO.CATG = "TEST";
}
/* biases of either detector */
if DPR.CATG like "%CALIB%" and DPR.TYPE like "%BIAS%" and DET.CHIPS == 1 then
{
  DO.CATG = "BIAS_BLUE";
}
if DPR.CATG like "%CALIB%" and DPR.TYPE like "%BIAS%" and DET.CHIPS == 2 then
{
  DO.CATG = "BIAS_RED";
}
if DPR.CATG == "CALIB" and DPR.TYPE like "%LAMP%" and DPR.TYPE like "%FLAT%"
   and ( DPR.TECH like "%ECHELLE%" or DPR.TECH == "IMAGE" ) and not INS.SLIT1.NAME like "SLIC%" then
{
  DO.CATG = "FLAT";
  RAW.TYPE = "LAMP";
  FLAT.IS.ECHELLE = DPR.TECH like "%ECHELLE%";
}
if DPR.CATG == "CALIB" and TPL.ID regexp "^ECHO_[a-z]+_cal_wave$" and DET.WIN1.BINX >= 2 then
{
  DO.CATG = "ARC_BINNED";
}
if PRO.CATG is string then
{
  DO.CATG = PRO.CATG;
}

select execute(ECHO_BIAS) from inputFiles where SIG.TEMPLATE == 1 and DO.CATG == "BIAS_BLUE"
  group by DET.WIN1.BINX, DET.READ.SPEED;

action ECHO_BIAS
{
  minRet = 1; maxRet = 1;
  select file as MASTER_BIAS from calibFiles where DO.CATG == "MASTER_BIAS"
     and inputFile.DET.WIN1.BINX==DET.WIN1.BINX;
  recipe echo_bias;
}
"""


def eso(**cards) -> fits.Header:
    """A header from short ESO names: ``eso(DPR_CATG="CALIB")`` -> ``HIERARCH ESO DPR CATG``."""
    head = fits.Header()
    for name, value in cards.items():
        head[name if name.isupper() and "_" not in name else "HIERARCH ESO " + name.replace("_", " ")] = value
    return head


@pytest.fixture(scope="module")
def echo():
    return parse_oca(RULES, "echo.oca")


def test_oca_names_are_eso_header_keywords():
    assert fits_keyword("DPR.CATG") == "HIERARCH ESO DPR CATG"
    assert fits_keyword("DET.WIN1.BINX") == "HIERARCH ESO DET WIN1 BINX"
    assert fits_keyword("INSTRUME") == "INSTRUME"


def test_only_the_classification_rules_are_read(echo):
    assert [rule.line for rule in echo.rules] == [3, 8, 12, 16, 23, 27]
    assigned = [a.value for rule in echo.rules for a in rule.assignments if a.target == "DO.CATG"]
    fixed = [Literal(name) for name in ("TEST", "BIAS_BLUE", "BIAS_RED", "FLAT", "ARC_BINNED")]
    assert assigned == [*fixed, Keyword("PRO.CATG")]


def test_every_rule_that_holds_overwrites_what_earlier_rules_assigned(echo):
    assert echo.classify(eso(DPR_CATG="CALIB", DPR_TYPE="BIAS", DET_CHIPS=2)) == {"DO.CATG": "BIAS_RED"}
    assert echo.classify(eso(DPR_CATG="TEST", DPR_TYPE="BIAS")) == {"DO.CATG": "TEST"}
    product_frame = eso(DPR_CATG="CALIB", DPR_TYPE="BIAS", DET_CHIPS=1, PRO_CATG="MASTER_BIAS_BLUE")
    assert echo.classify(product_frame) == {"DO.CATG": "MASTER_BIAS_BLUE"}


def test_like_or_not_parentheses_and_assigned_conditions(echo):
    flat = dict(DPR_CATG="CALIB", DPR_TYPE="LAMP,FLAT", INS_SLIT1_NAME="FREE")
    echelle = echo.classify(eso(**flat, DPR_TECH="ECHELLE,ABSORPTION-CELL"))
    assert echelle == {"DO.CATG": "FLAT", "RAW.TYPE": "LAMP", "FLAT.IS.ECHELLE": True}
    assert echo.classify(eso(**flat, DPR_TECH="image"))["FLAT.IS.ECHELLE"] is False
    assert echo.classify(eso(**flat, DPR_TECH="SPECTRUM")) == {}
    assert echo.classify(eso(**{**flat, "INS_SLIT1_NAME": "SLIC#2"}, DPR_TECH="ECHELLE")) == {}


def test_regexp_and_numbers_are_compared_as_eso_compares_them(echo):
    wave = dict(DPR_CATG="CALIB", TPL_ID="ECHO_red_cal_wave")
    assert echo.classify(eso(**wave, DET_WIN1_BINX=2)) == {"DO.CATG": "ARC_BINNED"}
    assert echo.classify(eso(**wave, DET_WIN1_BINX="3")) == {"DO.CATG": "ARC_BINNED"}
    assert echo.classify(eso(**wave, DET_WIN1_BINX=1)) == {}


def test_a_keyword_the_header_lacks_makes_its_comparison_false(echo):
    assert echo.classify(eso(DPR_TYPE="BIAS", DET_CHIPS=1)) == {}
    assert Comparison(Keyword("DPR.TYPE"), "!=", Literal("BIAS")).holds(eso()) is False
    assert BooleanOp("not", (Comparison(Keyword("DPR.TYPE"), "==", Literal("BIAS")),)).holds(eso()) is True


def test_a_rule_eso_could_not_have_written_is_reported_with_its_line():
    text = 'if DPR.CATG == "CALIB" then\n{\n  DO.CATG = "X";\n}\nif DPR.TYPE ~ "BIAS" then { DO.CATG = "Y"; }\n'
    with pytest.raises(OcaError, match=r"bad\.oca, line 5: expected a comparison"):
        parse_oca(text, "bad.oca")
    with pytest.raises(OcaError, match=r"cut\.oca, end of file: the rule of line 1 is not closed"):
        parse_oca('if DPR.CATG == "CALIB" then\n{ DO.CATG = "X";\n', "cut.oca")


# --------------------------------------------------------------------- instruments typed by ESO's rules


def site_with_pipeline(tmp_path, oca_text: str, version: str = "1.0") -> tuple:
    """A site's rules folder that finds an ESO pipeline's OCA file for the (made-up) instrument ECHO."""
    folder = tmp_path / "pipelines" / f"echo-{version}" / "gasgano" / "config"
    folder.mkdir(parents=True)
    (folder / "echo.oca").write_text(oca_text)
    (tmp_path / "site_eso.toml").write_text(
        textwrap.dedent("""
        name = "site ESO pipelines"
        priority = 90
        oca = ["pipelines/*/gasgano/config/*.oca"]
        arm = "(?:^|_)(BLUE|RED)(?=_|$)"
        unclassified = "UNCLASSIFIED_{HIERARCH ESO DPR TYPE}"

        [instruments]
        echo = { name = "ECHO", match = "^ECHO$" }

        [[do_catg]]
        pattern = "BIAS"
        category = "bias"

        [[do_catg]]
        pattern = "FLAT"
        category = "flat"

        [[mode]]
        keyword = "HIERARCH ESO DET WIN1 BINX"
        name = "binx"
    """)
    )
    return load_rules((tmp_path,)), folder


def test_an_instrument_eso_knows_is_typed_by_esos_rules_without_a_rules_file_of_ours(tmp_path):
    rules, _ = site_with_pipeline(tmp_path, RULES)
    bias = identify(eso(INSTRUME="ECHO", DPR_CATG="CALIB", DPR_TYPE="BIAS", DET_CHIPS=1, DET_WIN1_BINX=2), 0, rules)
    assert (bias.rules, bias.category, bias.image_type, bias.mode) == ("ECHO (ESO echo.oca)", "bias", "ECHO_BLUE_BIAS_ext0", "binx=2")
    assert bias.category_source == "ESO echo.oca: BIAS_BLUE"


def test_esos_raw_type_keeps_its_frames_apart(tmp_path):
    rules, _ = site_with_pipeline(tmp_path, RULES)
    flat = identify(eso(INSTRUME="ECHO", DPR_CATG="CALIB", DPR_TYPE="LAMP,FLAT", DPR_TECH="ECHELLE"), 1, rules)
    assert (flat.category, flat.image_type) == ("flat", "ECHO_FLAT_LAMP_ext1")


def test_a_frame_esos_rules_leave_unclassified_is_unknown_under_its_own_name(tmp_path):
    rules, _ = site_with_pipeline(tmp_path, RULES)
    odd = identify(eso(INSTRUME="ECHO", DPR_CATG="CALIB", DPR_TYPE="LAMP,WAVE"), 0, rules)
    assert (odd.category, odd.image_type) == ("unknown", "ECHO_UNCLASSIFIED_LAMP_WAVE_ext0")


def test_other_instruments_are_not_typed_by_another_instruments_eso_rules(tmp_path):
    rules, _ = site_with_pipeline(tmp_path, RULES)
    assert identify(eso(INSTRUME="ECHOES", DPR_CATG="CALIB", DPR_TYPE="BIAS", DET_CHIPS=1), 0, rules).rules == "generic"


def test_the_newest_installed_version_of_a_pipeline_is_read(tmp_path):
    _rules, _ = site_with_pipeline(tmp_path, RULES, version="1.9")
    newer = tmp_path / "pipelines" / "echo-1.10" / "gasgano" / "config"
    newer.mkdir(parents=True)
    (newer / "echo.oca").write_text('if DPR.TYPE like "%BIAS%" then { DO.CATG = "NEW_BIAS"; }\n')
    found = find_oca_files(["pipelines/*/gasgano/config/*.oca"], tmp_path)
    assert found == [newer / "echo.oca"]


def test_a_broken_eso_rules_file_is_left_out_with_a_warning_and_typing_goes_on(tmp_path):
    with pytest.warns(UserWarning, match=r"ESO rules left out: .*echo\.oca, line 1"):
        rules, _ = site_with_pipeline(tmp_path, 'if DPR.TYPE "BIAS" then { DO.CATG = "X"; }\n')
    assert not any(isinstance(r, EsoPipelineRules) and r.path.is_relative_to(tmp_path) for r in rules)
    assert identify(eso(INSTRUME="ECHO", IMAGETYP="bias"), 0, rules).category == "bias"


def test_every_installed_eso_pipelines_rules_can_be_read():
    installed = [r for r in load_rules() if isinstance(r, EsoPipelineRules)]
    if not installed:
        pytest.skip("no ESO pipeline installed (Debian cpl-plugin-*)")
    assert all(r.oca.rules for r in installed)


# --------------------------------------------------------------------- UVES held to ESO's uves.oca


@pytest.fixture(scope="module")
def uves_oca() -> EsoPipelineRules:
    found = next((r for r in load_rules() if isinstance(r, EsoPipelineRules) and r.path.stem == "uves"), None)
    if found is None:
        pytest.skip("ESO's UVES pipeline is not installed (Debian package cpl-plugin-uves)")
    return found


def conjunctions(condition) -> list[list[Comparison]]:
    """The ways a condition can hold, each a list of comparisons that all hold (``not`` gives none)."""
    if isinstance(condition, Comparison):
        return [[condition]]
    if not isinstance(condition, BooleanOp) or condition.operator == "not":
        return []
    if condition.operator == "or":
        return [c for operand in condition.operands for c in conjunctions(operand)]
    return [functools.reduce(operator.iadd, parts, []) for parts in product(*(conjunctions(o) for o in condition.operands))]


def header_satisfying(comparisons: list[Comparison]) -> fits.Header | None:
    """A UVES header for which every comparison holds: ``like "%LAMP%"`` and ``like "%FLAT%"`` give ``LAMP,FLAT``."""
    exact: dict[str, object] = {}
    words: dict[str, list[str]] = {}
    for c in comparisons:
        if not (isinstance(c.left, Keyword) and isinstance(c.right, Literal) and c.operator in ("==", "like")):
            return None
        key, value = fits_keyword(c.left.name), c.right.value
        if c.operator == "==":
            exact[key] = int(value) if isinstance(value, float) and value.is_integer() else value
        else:
            for word in filter(None, str(value).split("%")):
                if not any(word in w for w in words.setdefault(key, [])):
                    words[key] = [w for w in words[key] if w not in word] + [word]
    cards = {"INSTRUME": "UVES", **{k: ",".join(v) for k, v in words.items() if k not in exact}, **exact}
    return fits.Header(cards)


def colour(arm: str) -> str:
    """The detector of an arm: a dichroic mode's ``DIC1B`` is the blue one."""
    return {"B": "BLUE", "R": "RED"}.get(arm[-1:], arm) if arm.startswith("DIC") else arm


def headers_from_eso_rules(uves_oca: EsoPipelineRules) -> list[tuple[int, fits.Header]]:
    """One header per way each of ESO's raw-frame rules for UVES can hold (product rules left out)."""
    out = []
    for rule in uves_oca.oca.rules:
        if any(k.startswith("PRO.") for k in rule.condition.keywords()):
            continue
        for comparisons in conjunctions(rule.condition):
            head = header_satisfying(comparisons)
            if head is not None:
                out.append((rule.line, head))
    return out


def test_uves_is_typed_by_its_own_rules_file_even_where_esos_is_installed(uves_oca):
    head = uves_type_header(UVES_TYPES[0])
    assert uves_oca.matches(head) and identify(head, 0, load_rules()).rules == "UVES"


@pytest.mark.parametrize("row", UVES_TYPES, ids=[f"{r[0]}-{r[1]}-{r[2]}-{r[3]}" for r in UVES_TYPES])
def test_the_uves_table_says_what_esos_rules_say(uves_oca, row):
    assert " ".join(name for name in uves_oca.eso_class(uves_type_header(row)) if name) == row[5]


def test_every_dpr_type_in_esos_uves_rules_has_a_header_in_the_table(uves_oca):
    words = set()
    for _line, head in headers_from_eso_rules(uves_oca):
        words.update(w for w in str(head.get("HIERARCH ESO DPR TYPE", "")).split(",") if w)
    tabled = {w.upper() for row in UVES_TYPES for w in row[1].split(",")}
    assert {w.upper() for w in words} - tabled == set()


def test_headers_built_from_every_eso_rule_are_typed_as_eso_types_them_or_kept_apart(uves_oca):
    rules = load_rules()
    histories: dict[tuple[str, str], set] = {}
    disagreements = []
    for line, head in headers_from_eso_rules(uves_oca):
        eso_class = uves_oca.eso_class(head)
        esos = uves_oca.identify(head, 0)
        ours = identify(head, 0, rules)
        histories.setdefault((ours.image_type, ours.mode), set()).add(eso_class)
        if ours.category not in (esos.category, "unknown"):
            disagreements.append((line, eso_class, esos.category, ours.image_type, ours.category))
        if esos.arm and colour(ours.arm) != esos.arm:
            disagreements.append((line, eso_class, esos.arm, ours.image_type, ours.arm))
    assert len(histories) > 80
    assert disagreements == []
    assert {key: found for key, found in histories.items() if len(found) > 1} == {}
