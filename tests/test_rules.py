"""Header rules are data: built-in files type lying headers right, UVES as ESO types it, and a site can add its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from core.fitsio import read_fits
from core.rules import identify, load_rules, sanitize
from core.rules.header_rules import fill_label

ESO = "HIERARCH ESO "
# arm: INS MODE, DET CHIPS, and the central wavelengths of the blue (GRAT1) and red (GRAT2) gratings in use
ARMS = {
    "BLUE": ("BLUE", 1, 390, None),
    "RED": ("RED", 2, None, 580),
    "DIC1B": ("DICHR#1", 1, 346, 580),
    "DIC1R": ("DICHR#1", 2, 346, 580),
    "DIC2B": ("DICHR#2", 1, 437, 860),
    "DIC2R": ("DICHR#2", 2, 437, 860),
}
DETECTOR_TYPES = ("BIAS", "DARK", "PARASITIC", "BIAS,DETCHAR")


def header(**cards) -> fits.Header:
    return fits.Header(cards)


def uves(arm: str, dpr_type: str, catg: str = "CALIB", **cards) -> fits.Header:
    """A UVES raw header as the instrument writes it.

    Frames that use no light path (biases, darks) carry neither ``INS PATH`` nor
    ``INS MODE``; the arm's detector says ``DET CHIPS`` (1 blue, 2 red). A dichroic
    frame names the gratings of both arms. ``cards`` (short ESO names: ``INS SLIT1 NAME``)
    replace or, with value None, remove the defaults.
    """
    mode, chips, blue_wlen, red_wlen = ARMS[arm]
    defaults = {
        "DPR CATG": catg,
        "DPR TYPE": dpr_type,
        "DET CHIPS": chips,
        "DET READ SPEED": "225kHz,1x1,low",
        "DET WIN1 BINX": 1,
        "DET WIN1 BINY": 1,
        "DET OUT1 PRSCX": 50,
        "DET OUT1 OVSCX": 50,
        "DET OUT1 RON": 3.9,
        "DET OUT1 CONAD": 1.6,
    }
    if dpr_type in DETECTOR_TYPES:
        defaults["DPR TECH"] = "IMAGE"
    else:
        defaults.update(
            {
                "DPR TECH": "ECHELLE",
                "INS MODE": mode,
                "INS PATH": "BLUE" if chips == 1 else "RED",
                "INS SLIT1 NAME": "FREE",
                "INS GRAT1 WLEN": blue_wlen,
                "INS GRAT2 WLEN": red_wlen,
            }
        )
    defaults.update(cards)
    out = fits.Header({"INSTRUME": "UVES", "DATE-OBS": "2025-01-02T10:15:00.000"})
    for key, value in defaults.items():
        if value is not None:
            out[ESO + key] = value
    return out


def typed(head: fits.Header, ext: int = 0):
    return identify(head, ext, load_rules())


def uves_file(path: Path, head: fits.Header, extensions: int) -> Path:
    """A raw file: the pixels in the primary HDU, or behind an empty primary in ``extensions`` HDUs."""
    rng = np.random.default_rng(3)
    pixels = [(300 + 4 * rng.standard_normal((16, 24))).astype(np.uint16) for _ in range(max(extensions, 1))]
    if extensions == 0:
        hdus = [fits.PrimaryHDU(pixels[0], header=head)]
    else:
        hdus = [fits.PrimaryHDU(header=head), *(fits.ImageHDU(p, name=f"WIN{i + 1}") for i, p in enumerate(pixels))]
    fits.HDUList(hdus).writeto(path)
    return path


def types_in(path: Path) -> list[str]:
    reading = read_fits(path, load_rules())
    assert reading.error is None
    return [image.identity.image_type for image in reading.images]


# --------------------------------------------------------------------- generic rules


def test_an_arc_called_target_is_an_arc_when_the_object_says_thar():
    image = identify(header(INSTRUME="Goodman", OBSTYPE="TARGET", OBJECT="ThAr lamp", EXPTIME=30.0), 0, load_rules())
    assert (image.category, image.image_type) == ("arc", "GOODMAN_ARC_ext0")


def test_a_zero_second_dark_is_a_bias():
    image = identify(header(INSTRUME="cam", IMAGETYP="DARK", EXPTIME=0.0), 0, load_rules())
    assert image.category == "bias"


def test_a_real_dark_stays_a_dark():
    image = identify(header(INSTRUME="cam", IMAGETYP="DARK", EXPTIME=300.0), 0, load_rules())
    assert image.category == "dark"


@pytest.mark.parametrize(
    "change", [{"NAXIS1": 1024}, {"NAXIS2": 512}, {"CCDSUM": "2 2"}, {"XBINNING": 2}, {"GRISM": "600/4310"}, {"SLIT": "1.5"}]
)
def test_frames_of_an_unnamed_instrument_with_another_size_binning_or_disperser_are_another_mode(change):
    """Nothing but the header's read-out and optics keeps them from sharing a reference by accident."""
    base = {"INSTRUME": "Nameless", "IMAGETYP": "FLAT", "EXPTIME": 5.0, "NAXIS1": 2048, "NAXIS2": 1024}
    plain = identify(header(**base), 0, load_rules())
    other = identify(header(**{**base, **change}), 0, load_rules())
    assert plain.image_type == other.image_type == "NAMELESS_FLAT_ext0"
    assert plain.mode.startswith("nx=2048 ny=1024") and other.mode != plain.mode


def test_an_extension_image_keeps_its_size_in_its_mode(tmp_path):
    head = header(INSTRUME="Nameless", IMAGETYP="BIAS", EXPTIME=0.0)
    reading = read_fits(uves_file(tmp_path / "mef.fits", head, 2), load_rules())
    assert [image.identity.mode for image in reading.images] == ["nx=24 ny=16", "nx=24 ny=16"]


def test_uves_biases_ignore_the_grating_in_their_mode():
    cards = {
        "INSTRUME": "UVES",
        "HIERARCH ESO DPR TYPE": "BIAS",
        "HIERARCH ESO INS PATH": "BLUE",
        "HIERARCH ESO INS GRAT1 WLEN": 390,
        "HIERARCH ESO DET WIN1 BINX": 2,
        "HIERARCH ESO DET WIN1 BINY": 2,
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


def test_a_label_template_names_what_the_header_says_and_nothing_for_what_it_lacks():
    head = header(OBJECT="Dome flat", FILTER="B")
    assert fill_label("SKY_{OBJECT}_{FILTER}", head) == "SKY_DOME_FLAT_B"
    assert fill_label("SKY_{OBJECT}_{GRISM}", head) == "SKY_DOME_FLAT"
    assert fill_label("{GRISM}", head) == "UNKNOWN"


def test_a_site_rules_file_can_keep_frames_apart_under_their_own_names(tmp_path):
    (tmp_path / "mycam.toml").write_text(
        'name = "MYCAM"\npriority = 60\n[match]\nINSTRUME = "^MyCam"\n[[instrument]]\nvalue = "MYCAM"\n'
        '[[category]]\nwhen = { IMAGETYP = "^flat$" }\ncategory = "flat"\nlabel = "FLAT"\n'
        '[[category]]\nwhen = { IMAGETYP = "." }\ncategory = "unknown"\nlabel = "{IMAGETYP}"\n'
    )
    rules = load_rules((tmp_path,))
    sky = identify(header(INSTRUME="MyCam", IMAGETYP="sky flat"), 0, rules)
    dome = identify(header(INSTRUME="MyCam", IMAGETYP="flat"), 0, rules)
    assert (sky.category, sky.image_type) == ("unknown", "MYCAM_SKY_FLAT_ext0")
    assert dome.image_type == "MYCAM_FLAT_ext0"


# --------------------------------------------------------------------- UVES: arms


@pytest.mark.parametrize(("arm", "expected"), [("BLUE", "UVES_BLUE_BIAS_ext0"), ("RED", "UVES_RED_BIAS_ext1")])
def test_biases_without_a_light_path_take_their_arm_from_the_detector(arm, expected):
    bias = uves(arm, "BIAS")
    assert "HIERARCH ESO INS PATH" not in bias and "HIERARCH ESO INS MODE" not in bias
    assert typed(bias, ext=int(arm == "RED")).image_type == expected


def test_darks_and_parasitic_light_frames_take_their_arm_from_the_detector_too():
    assert typed(uves("RED", "DARK"), 2).image_type == "UVES_RED_DARK_ext2"
    assert typed(uves("BLUE", "PARASITIC")).image_type == "UVES_BLUE_PARASITIC_ext0"


def test_a_bias_with_neither_path_nor_detector_count_has_no_arm_rather_than_a_wrong_one():
    assert typed(uves("BLUE", "BIAS", **{"DET CHIPS": None})).image_type == "UVES_BIAS_ext0"


@pytest.mark.parametrize("arm", ["DIC1B", "DIC1R", "DIC2B", "DIC2R"])
def test_dichroic_frames_are_apart_from_single_arm_frames(arm):
    flat = typed(uves(arm, "LAMP,FLAT"), ext=0 if arm.endswith("B") else 1)
    assert flat.arm == arm
    plain = typed(uves("BLUE" if arm.endswith("B") else "RED", "LAMP,FLAT"), ext=0 if arm.endswith("B") else 1)
    assert plain.image_type != flat.image_type


def test_a_dichroic_frame_without_detector_count_takes_its_arm_from_the_light_path():
    flat = typed(uves("DIC1R", "LAMP,FLAT", **{"DET CHIPS": None}), ext=1)
    assert flat.image_type == "UVES_DIC1R_FLAT_ext1"


def test_each_arm_of_a_dichroic_frame_is_keyed_by_its_own_grating():
    blue, red = typed(uves("DIC1B", "LAMP,FLAT")), typed(uves("DIC1R", "LAMP,FLAT"), 1)
    assert "wlen=346" in blue.mode and "580" not in blue.mode
    assert "wlen=580" in red.mode and "346" not in red.mode


# --------------------------------------------------------------------- UVES: type names


PROOF_OF_CONCEPT_TYPES = (
    "UVES_BLUE_BIAS_ext0",
    "UVES_RED_BIAS_ext1",
    "UVES_RED_BIAS_ext2",
    "UVES_BLUE_WAVE_ext1",
    "UVES_BLUE_WAVE_ext2",
    "UVES_RED_WAVE_ext1",
    "UVES_RED_WAVE_ext2",
    "UVES_DIC1B_FLAT_ext0",
    "UVES_DIC1B_DFLAT_ext0",
    "UVES_DIC1R_FLAT_ext1",
    "UVES_DIC1R_FLAT_ext2",
)


def test_the_proof_of_concepts_eleven_types_come_out_of_files_that_have_them(tmp_path):
    files = [
        (uves("BLUE", "BIAS"), 0),
        (uves("RED", "BIAS"), 2),
        (uves("BLUE", "LAMP,WAVE", **{"DET READ SPEED": "625kHz,1x1,low"}), 2),
        (uves("RED", "LAMP,WAVE"), 2),
        (uves("DIC1B", "LAMP,FLAT"), 0),
        (uves("DIC1B", "LAMP,DFLAT"), 0),
        (uves("DIC1R", "LAMP,FLAT"), 2),
    ]
    found = [t for i, (head, n) in enumerate(files) for t in types_in(uves_file(tmp_path / f"UVES.{i}.fits", head, n))]
    assert tuple(found) == PROOF_OF_CONCEPT_TYPES


def test_the_blue_arm_read_at_625_khz_writes_two_images_of_their_own_mode(tmp_path):
    slow = uves_file(tmp_path / "slow.fits", uves("BLUE", "LAMP,WAVE"), 0)
    fast = uves_file(tmp_path / "fast.fits", uves("BLUE", "LAMP,WAVE", **{"DET READ SPEED": "625kHz,1x1,low"}), 2)
    assert types_in(slow) == ["UVES_BLUE_WAVE_ext0"]
    fast_images = read_fits(fast, load_rules()).images
    assert [i.identity.image_type for i in fast_images] == ["UVES_BLUE_WAVE_ext1", "UVES_BLUE_WAVE_ext2"]
    assert all("speed=625kHz,1x1,low" in i.identity.mode for i in fast_images)


@pytest.mark.parametrize("light_path_on_bias", [False, True])
def test_the_simulators_types_keep_their_names(tmp_path, light_path_on_bias):
    """Frames as the simulator writes them (real keywords; older versions also put INS PATH on biases)."""
    bias_path = {"INS PATH": "BLUE"} if light_path_on_bias else {}
    red_bias_path = {"INS PATH": "RED"} if light_path_on_bias else {}
    files = [
        (uves("BLUE", "BIAS", **bias_path), 0, ["UVES_BLUE_BIAS_ext0"]),
        (uves("BLUE", "LAMP,FLAT"), 0, ["UVES_BLUE_FLAT_ext0"]),
        (uves("BLUE", "LAMP,WAVE"), 0, ["UVES_BLUE_WAVE_ext0"]),
        (uves("RED", "BIAS", **red_bias_path), 2, ["UVES_RED_BIAS_ext1", "UVES_RED_BIAS_ext2"]),
        (uves("RED", "LAMP,FLAT"), 2, ["UVES_RED_FLAT_ext1", "UVES_RED_FLAT_ext2"]),
        (uves("RED", "LAMP,WAVE"), 2, ["UVES_RED_WAVE_ext1", "UVES_RED_WAVE_ext2"]),
    ]
    for i, (head, n, expected) in enumerate(files):
        assert types_in(uves_file(tmp_path / f"UVES.{i}.fits", head, n)) == expected


# Every DPR TYPE in ESO's classification rules for UVES (uves.oca), with the class ESO
# gives such a frame (DO.CATG, and RAW.TYPE where ESO sets one) and the type calspot gives
# it (UVES_<arm>_<label>_ext0). tests/test_oca.py checks the ESO column against ESO's own
# file where the pipeline is installed.
UVES_TYPES = [
    # DPR CATG, TYPE, TECH, arm, INS SLIT1 NAME, ESO's class (DO.CATG RAW.TYPE), category, calspot label
    ("CALIB", "BIAS", "IMAGE", "BLUE", None, "BIAS_BLUE", "bias", "BIAS"),
    ("CALIB", "BIAS", "IMAGE", "RED", None, "BIAS_RED", "bias", "BIAS"),
    ("TEST", "BIAS", "IMAGE", "BLUE", None, "BIAS_TEST_BLUE", "unknown", "TEST_BIAS_IMAGE"),
    ("CALIB", "BIAS,DETCHAR", "IMAGE", "BLUE", None, "OFF_RAW LINEARITY_BLUE_DETCHAR", "bias", "BIAS_DETCHAR"),
    ("CALIB", "LAMP,CDALIGN", "IMAGE", "RED", None, "CD_ALIGN_RED", "flat", "CDALIGN"),
    ("CALIB", "TEST", "IMAGE", "BLUE", None, "TEST_IMAGE_BLUE", "unknown", "TEST_IMAGE"),
    ("CALIB", "TEST", "ECHELLE", "BLUE", None, "TEST_IMAGE_ECHELLE_BLUE", "unknown", "TEST_ECHELLE"),
    ("TEST", "DARK", "IMAGE", "RED", None, "DARK_TEST_RED", "unknown", "TEST_DARK_IMAGE"),
    ("CALIB", "DARK", "IMAGE", "BLUE", None, "DARK_BLUE", "dark", "DARK"),
    ("CALIB", "PARASITIC", "IMAGE", "RED", None, "PDARK_RED", "dark", "PARASITIC"),
    ("CALIB", "LAMP,FLAT", "ECHELLE", "BLUE", "FREE", "FLAT_BLUE", "flat", "FLAT"),
    ("CALIB", "LAMP,FLAT", "ECHELLE", "RED", "FREE", "FLAT_RED", "flat", "FLAT"),
    ("TEST", "LAMP,FLAT", "ECHELLE", "BLUE", "FREE", "FLAT_ECHELLE_TEST_BLUE", "unknown", "TEST_LAMP_FLAT_ECHELLE"),
    ("TEST", "LAMP,FLAT", "IMAGE", "BLUE", "FREE", "FLAT_IMAGE_TEST_BLUE", "unknown", "TEST_LAMP_FLAT_IMAGE"),
    ("CALIB", "LAMP,DFLAT", "ECHELLE", "BLUE", "FREE", "DFLAT_BLUE", "flat", "DFLAT"),
    ("CALIB", "LAMP,TFLAT", "ECHELLE", "RED", "FREE", "TFLAT_RED", "flat", "TFLAT"),
    ("TEST", "LAMP,TFLAT", "ECHELLE", "BLUE", "FREE", "TFLAT_TEST_BLUE", "unknown", "TEST_LAMP_TFLAT_ECHELLE"),
    ("CALIB", "LAMP,SFLAT", "ECHELLE", "RED", "FREE", "SFLAT_RED", "flat", "SFLAT"),
    ("CALIB", "LAMP,IFLAT", "ECHELLE,ABSORPTION-CELL", "BLUE", "FREE", "IFLAT_BLUE", "flat", "IFLAT"),
    ("CALIB", "LAMP,FLAT", "IMAGE", "BLUE", None, "ON_RAW SCREEN_FLAT_BLUE", "flat", "SCREEN_FLAT"),
    ("CALIB", "LAMP,FLAT,DETCHAR", "IMAGE", "RED", None, "ON_RAW LINEARITY_RED_DETCHAR", "flat", "FLAT_DETCHAR"),
    ("CALIB", "LAMP,WAVE", "ECHELLE", "BLUE", "FREE", "ARC_LAMP_BLUE", "arc", "WAVE"),
    ("CALIB", "LAMP,WAVE", "ECHELLE", "RED", "SLIC#1", "ARC_LAMP_RED", "arc", "WAVE"),
    ("TEST", "LAMP,WAVE", "ECHELLE", "RED", "FREE", "ARC_LAMP_TEST_RED", "unknown", "TEST_LAMP_WAVE_ECHELLE"),
    ("CALIB", "LAMP,ORDERDEF", "ECHELLE", "BLUE", "FREE", "ORDER_FLAT_BLUE", "flat", "ORDERDEF"),
    ("CALIB", "LAMP,FMTCHK", "ECHELLE", "RED", "FREE", "ARC_LAMP_FORM_RED", "arc", "FMTCHK"),
    ("IGNOREME", "LAMP,FMTCHK", "ECHELLE", "BLUE", "FREE", "ARC_LAMP_FORM_IGNOREME_BLUE", "unknown", "IGNOREME_LAMP_FMTCHK_ECHELLE"),
    ("TEST", "LAMP,FMTCHK", "ECHELLE", "RED", "FREE", "ARC_LAMP_FORM_TEST_RED", "unknown", "TEST_LAMP_FMTCHK_ECHELLE"),
    ("CALIB", "STD", "ECHELLE", "BLUE", "FREE", "STANDARD_BLUE", "science", "STD_ECHELLE"),
    ("TEST", "STD", "ECHELLE", "RED", "FREE", "STANDARD_TEST_RED", "unknown", "TEST_STD_ECHELLE"),
    ("ACQUISITION", "SLIT", "IMAGE", "BLUE", None, "ACQUISITION_SLIT_BLUE", "unknown", "ACQUISITION_SLIT_IMAGE"),
    ("ACQUISITION", "OBJECT", "IMAGE", "RED", None, "ACQUISITION", "unknown", "ACQUISITION_OBJECT_IMAGE"),
    ("SCIENCE", "OBJECT", "ECHELLE", "BLUE", "FREE", "SCIENCE_BLUE", "science", "SCIENCE_OBJECT_ECHELLE"),
    ("SCIENCE", "OBJECT", "ECHELLE", "RED", "SLIC#2", "SCI_SLICER_RED", "science", "SCIENCE_OBJECT_ECHELLE"),
    ("SCIENCE", "OBJECT", "ECHELLE", "RED", "FREE", "SCIENCE_RED", "science", "SCIENCE_OBJECT_ECHELLE"),
    ("SCIENCE", "OBJECT,POINT", "ECHELLE", "RED", "FREE", "SCI_POINT_RED", "science", "SCIENCE_OBJECT_POINT_ECHELLE"),
    ("SCIENCE", "OBJECT,EXTENDED", "ECHELLE", "BLUE", "FREE", "SCI_EXTND_BLUE", "science", "SCIENCE_OBJECT_EXTENDED_ECHELLE"),
    ("SCIENCE", "POINT", "ECHELLE", "BLUE", "FREE", "SCI_POINT_BLUE", "science", "SCIENCE_POINT_ECHELLE"),
    ("SCIENCE", "EXTENDED", "ECHELLE", "RED", "FREE", "SCI_EXTND_RED", "science", "SCIENCE_EXTENDED_ECHELLE"),
    ("CALIB", "EXTENDED", "ECHELLE", "RED", "FREE", "SCI_EXTND_RED", "science", "EXTENDED_ECHELLE"),
    ("TEST", "EXTENDED", "ECHELLE", "BLUE", "FREE", "SCI_EXTND_TEST_BLUE", "unknown", "TEST_EXTENDED_ECHELLE"),
    ("TEST", "POINT", "ECHELLE", "BLUE", "FREE", "SCI_POINT_TEST_BLUE", "unknown", "TEST_POINT_ECHELLE"),
    ("TEST", "TEST", "ECHELLE", "RED", "FREE", "TEST_POINT_TEST_RED", "unknown", "TEST_TEST_ECHELLE"),
    ("CALIB", "OBJECT,EXTENDED", "ECHELLE", "BLUE", "FREE", "SCI_EXTND_BLUE SOLAR_SPEC_ECH_BLUE", "science", "OBJECT_EXTENDED_ECHELLE"),
    ("CALIB", "OBJECT,EXTENDED", "FLAT,SKY", "RED", "FREE", "SCI_EXTND_FLAT_SKY_OBJ_RED", "science", "OBJECT_EXTENDED_FLAT_SKY"),
    ("CALIB", "FLAT,SKY,EXTENDED", "ECHELLE", "RED", "FREE", "SCI_EXTND_RED SOLAR_SPEC_ECH_RED", "science", "FLAT_SKY_EXTENDED_ECHELLE"),
    ("CALIB", "SKY,RADIAL_VELOCITY", "ECHELLE", "BLUE", "FREE", "SOLAR_SPEC_ECH_BLUE", "science", "SKY_RADIAL_VELOCITY_ECHELLE"),
    # FLAMES: the red arm fed by fibres (DPR TECH MOS).
    ("CALIB", "LAMP,FLAT,ODD", "MOS", "RED", None, "FIB_FF_ODD_RED FFLAT_MOS_RED", "flat", "FIB_FLAT_ODD"),
    ("CALIB", "LAMP,FLAT,EVEN", "MOS", "RED", None, "FIB_FF_EVEN_RED FFLAT_MOS_RED", "flat", "FIB_FLAT_EVEN"),
    ("CALIB", "LAMP,FLAT,ALL", "MOS", "RED", None, "FIB_FF_ALL_RED FFLAT_MOS_RED", "flat", "FIB_FLAT_ALL"),
    ("CALIB", "LAMP,FLAT,NASMYTH", "MOS", "RED", None, "FIB_FF_NASMYTH_RED", "flat", "FIB_FLAT_NASMYTH"),
    ("TEST", "LAMP,FLAT,ODD", "MOS", "RED", None, "FIB_FF_ODD_TEST_RED", "unknown", "FIB_TEST_LAMP_FLAT_ODD"),
    ("TEST", "LAMP,FLAT,EVEN", "MOS", "RED", None, "FIB_FF_EVEN_TEST_RED", "unknown", "FIB_TEST_LAMP_FLAT_EVEN"),
    ("CALIB", "LAMP,ORDERDEF,SimCal", "MOS", "RED", None, "FIB_ORDEF_RED", "flat", "FIB_ORDERDEF"),
    ("CALIB", "LAMP,FMTCHK,SimCal", "MOS", "RED", None, "FIB_ARC_LAMP_FORM_RED", "arc", "FIB_FMTCHK"),
    ("TEST", "LAMP,FMTCHK", "MOS", "RED", None, "FIB_ARC_LAMP_FORM_TEST_RED", "unknown", "FIB_TEST_LAMP_FMTCHK"),
    ("CALIB", "LAMP,WAVE", "MOS", "RED", None, "FIB_ARC_LAMP_RED", "arc", "FIB_WAVE"),
    ("TEST", "OBJECT,OzPoz", "MOS", "RED", None, "FIB_SCI_TEST_RED", "unknown", "FIB_TEST_OBJECT_OZPOZ"),
    ("SCIENCE", "OBJECT,OzPoz", "MOS", "RED", None, "FIB_SCI_RED", "science", "FIB_SCIENCE_OBJECT_OZPOZ"),
    ("SCIENCE", "OBJECT,SimCal", "MOS", "RED", None, "FIB_SCI_SIM_RED", "science", "FIB_SCIENCE_OBJECT_SIMCAL"),
    ("SCIENCE", "OBJECT,COMBINED", "MOS", "RED", None, "FIB_SCI_COM_RED", "science", "FIB_SCIENCE_OBJECT_COMBINED"),
]


def uves_type_header(row) -> fits.Header:
    """The header of a row of :data:`UVES_TYPES`."""
    catg, dpr_type, tech, arm, slit = row[:5]
    return uves(arm, dpr_type, catg=catg, **{"DPR TECH": tech, "INS SLIT1 NAME": slit})


@pytest.mark.parametrize("row", UVES_TYPES, ids=[f"{r[0]}-{r[1]}-{r[2]}-{r[3]}" for r in UVES_TYPES])
def test_every_dpr_type_of_esos_rules_is_typed_as_eso_types_it_or_kept_apart(row):
    image = typed(uves_type_header(row))
    assert (image.category, image.image_type) == (row[6], f"UVES_{row[3]}_{row[7]}_ext0")


def test_no_two_of_esos_classes_share_a_history():
    """A history is a type and mode: each holds frames of one ESO class only."""
    classes: dict[tuple[str, str], set] = {}
    for row in UVES_TYPES:
        image = typed(uves_type_header(row))
        classes.setdefault((image.image_type, image.mode), set()).add(row[5])
    assert {key: found for key, found in classes.items() if len(found) > 1} == {}


def test_flames_fibre_frames_are_not_uves_echelle_types():
    echelle = {typed(uves("RED", t), 1).image_type for t in ("LAMP,FLAT", "LAMP,WAVE", "LAMP,ORDERDEF", "LAMP,FMTCHK")}
    for dpr_type in ("LAMP,FLAT,ODD", "LAMP,FLAT,ALL", "LAMP,WAVE", "LAMP,ORDERDEF", "LAMP,FMTCHK", "LAMP,FLAT"):
        fibre = typed(uves("RED", dpr_type, **{"DPR TECH": "MOS", "INS SLIT1 NAME": None}), 1)
        assert "_FIB_" in fibre.image_type and fibre.image_type not in echelle, dpr_type


def test_a_fibre_bias_is_a_bias_as_eso_types_it():
    assert typed(uves("RED", "BIAS", **{"DPR TECH": "MOS"}), 1).image_type == "UVES_RED_BIAS_ext1"


@pytest.mark.parametrize(
    ("dpr_type", "tech"),
    [
        ("LAMP,TFLAT", "ECHELLE"),
        ("FLAT,SKY,EXTENDED", "ECHELLE"),
        ("LAMP,FLAT,DETCHAR", "IMAGE"),
        ("LAMP,FLAT", "IMAGE"),
        ("LAMP,FLAT,ODD", "MOS"),
        ("LAMP,DFLAT", "ECHELLE"),
        ("LAMP,SFLAT", "ECHELLE"),
        ("LAMP,FLAT,EXTRA", "ECHELLE"),
    ],
)
def test_a_bare_flat_rule_swallows_no_other_frame(dpr_type, tech):
    flat = typed(uves("RED", "LAMP,FLAT"), 1).image_type
    other = typed(uves("RED", dpr_type, **{"DPR TECH": tech}), 1)
    assert other.image_type != flat


def test_a_frame_no_rule_foresaw_is_unknown_under_a_name_of_its_own():
    odd = typed(uves("BLUE", "LAMP,HOLLOW"))
    assert (odd.category, odd.image_type) == ("unknown", "UVES_BLUE_LAMP_HOLLOW_ECHELLE_ext0")
    fibre = typed(uves("RED", "LAMP,HOLLOW", **{"DPR TECH": "MOS"}), 1)
    assert (fibre.category, fibre.image_type) == ("unknown", "UVES_RED_FIB_LAMP_HOLLOW_ext1")


# --------------------------------------------------------------------- UVES: modes


def test_biases_are_grouped_by_read_speed_and_binning_and_nothing_else():
    base = typed(uves("BLUE", "BIAS")).mode
    assert base == "binx=1 biny=1 speed=225kHz,1x1,low"
    slow_binned = {"DET READ SPEED": "50kHz,2x2,high", "DET WIN1 BINX": 2, "DET WIN1 BINY": 2}
    slow = typed(uves("BLUE", "BIAS", **slow_binned)).mode
    assert slow == "binx=2 biny=2 speed=50kHz,2x2,high"
    assert typed(uves("BLUE", "BIAS", **{"INS GRAT1 WLEN": 437, "INS SLIT1 NAME": "SLIC#1"})).mode == base


@pytest.mark.parametrize(
    "change",
    [
        {"DET READ SPEED": "625kHz,1x1,low"},
        {"DET WIN1 BINX": 2},
        {"DET WIN1 BINY": 3},
        {"INS SLIT1 NAME": "SLIC#3"},
        {"INS GRAT1 WLEN": 437},
    ],
)
def test_flats_and_arcs_split_into_modes_by_read_speed_binning_slit_and_grating(change):
    for dpr_type in ("LAMP,FLAT", "LAMP,WAVE"):
        assert typed(uves("BLUE", dpr_type, **change)).mode != typed(uves("BLUE", dpr_type)).mode


def test_a_flats_mode_reads_as_the_proof_of_concept_wrote_it():
    assert typed(uves("BLUE", "LAMP,FLAT")).mode == "wlen=390 binx=1 biny=1 speed=225kHz,1x1,low slit=FREE"


def test_the_red_arm_is_keyed_by_its_own_grating():
    assert typed(uves("RED", "LAMP,WAVE", **{"INS GRAT1 WLEN": 390}), 1).mode.startswith("wlen=580 ")
