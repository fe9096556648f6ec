"""Only files the store holds, really under the configured data roots, are offered for download."""

from __future__ import annotations

from pathlib import Path

from core.downloads import servable_file


def test_a_file_under_a_data_root_is_served_and_one_elsewhere_is_not(tmp_path: Path):
    raw, elsewhere = tmp_path / "raw" / "2025-01-01", tmp_path / "secrets"
    raw.mkdir(parents=True)
    elsewhere.mkdir()
    frame, secret = raw / "UVES.fits", elsewhere / "passwords.txt"
    frame.write_bytes(b"SIMPLE")
    secret.write_text("x")
    roots = [tmp_path / "raw"]
    assert servable_file(str(frame), roots) == frame.resolve()
    assert servable_file(str(secret), roots) is None
    assert servable_file(str(raw / ".." / ".." / "secrets" / "passwords.txt"), roots) is None
    assert servable_file(str(raw / "gone.fits"), roots) is None
    assert servable_file(str(raw), roots) is None  # a folder is no file
    assert servable_file(str(secret), []) == secret.resolve()  # no roots: any file the store holds


def test_a_link_among_the_raw_files_that_leads_out_of_the_roots_serves_nothing(tmp_path: Path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (tmp_path / "outside.txt").write_text("not a frame")
    (raw / "UVES.fits").symlink_to(tmp_path / "outside.txt")
    assert servable_file(str(raw / "UVES.fits"), [raw]) is None
    (raw / "inside.fits").write_bytes(b"SIMPLE")
    (raw / "link.fits").symlink_to(raw / "inside.fits")
    assert servable_file(str(raw / "link.fits"), [raw]) == (raw / "inside.fits").resolve()
