"""Header rules are data: built-in files type lying headers right, and a site can add its own."""

from __future__ import annotations

from astropy.io import fits

from core.rules import identify, load_rules, sanitize


def header(**cards) -> fits.Header:
    return fits.Header(cards)


def test_an_arc_called_target_is_an_arc_when_the_object_says_thar():
    image = identify(header(INSTRUME="Goodman", OBSTYPE="TARGET", OBJECT="ThAr lamp", EXPTIME=30.0), 0, load_rules())
    assert (image.category, image.image_type) == ("arc", "GOODMAN_ARC_ext0")


def test_a_zero_second_dark_is_a_bias():
    image = identify(header(INSTRUME="cam", IMAGETYP="DARK", EXPTIME=0.0), 0, load_rules())
    assert image.category == "bias"


def test_a_real_dark_stays_a_dark():
    image = identify(header(INSTRUME="cam", IMAGETYP="DARK", EXPTIME=300.0), 0, load_rules())
    assert image.category == "dark"


def test_uves_biases_ignore_the_grating_in_their_mode():
    cards = {
        "INSTRUME": "UVES", "HIERARCH ESO DPR TYPE": "BIAS", "HIERARCH ESO INS PATH": "BLUE",
        "HIERARCH ESO INS GRAT1 WLEN": 390, "HIERARCH ESO DET WIN1 BINX": 2, "HIERARCH ESO DET WIN1 BINY": 2,
    }
    bias = identify(fits.Header(cards), 0, load_rules())
    assert (bias.image_type, bias.mode) == ("UVES_BLUE_BIAS_ext0", "binx=2 biny=2")
    cards["HIERARCH ESO DPR TYPE"] = "LAMP,ORDERDEF"
    orderdef = identify(fits.Header(cards), 0, load_rules())
    assert (orderdef.image_type, orderdef.mode) == ("UVES_BLUE_ORDERDEF_ext0", "wlen=390 binx=2 biny=2")


def test_a_site_rules_file_is_used_before_the_generic_rules(tmp_path):
    (tmp_path / "mycam.toml").write_text(
        'name = "MYCAM"\npriority = 60\nextends = "generic"\n'
        '[match]\nTELESCOP = "^My 1m"\n'
        '[[instrument]]\nvalue = "MYCAM"\n'
        '[[arm]]\nfrom = "CHANNEL"\n'
    )
    rules = load_rules((tmp_path,))
    image = identify(header(TELESCOP="My 1m", CHANNEL="red", OBJECT="bias"), 3, rules)
    assert (image.rules, image.image_type) == ("MYCAM", "MYCAM_RED_BIAS_ext3")


def test_type_names_are_safe():
    assert sanitize(" Apogee Alta ") == "APOGEE_ALTA"
    assert sanitize("SBIG ST-7") == "SBIG_ST_7"
