# --board takes a bundled board's name or the path of your own board file; a file that is
# missing or malformed is one line from argparse, never a traceback.
from __future__ import annotations

import json

import pytest
from microloop_tools import cli
from microloop_tools.build import build
from microloop_tools.paths import BOARDS_DIR


def test_own_board_file_builds_like_a_bundled_one(tmp_path):
    mine = json.loads((BOARDS_DIR / "rp2040.json").read_text())
    mine.update(name="mypico", max_call_bytes=4096)
    path = tmp_path / "mypico.json"
    path.write_text(json.dumps(mine))
    assert cli.build_parser().parse_args(["build", "--board", str(path)]).board == str(path)
    r = build(str(path), tmp_path / "out")
    assert r.board == "mypico" and (r.out_dir / "lib" / "microloop_mpy" / "guard.mpy").is_file()
    assert json.loads((r.out_dir / "microloop_policy.json").read_text()) == {
        "max_call_bytes": 4096}


@pytest.mark.parametrize("text, says", [
    (None, "no such board file"),
    ('{"name": "x"', "not JSON"),
    ('{"name": "x"}', "bad board file (KeyError: 'chip')"),
    ("[1, 2]", "bad board file (AttributeError"),
])
def test_a_bad_board_file_is_one_line(tmp_path, capsys, text, says):
    path = tmp_path / "b.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(SystemExit) as e:
        cli.main(["build", "--board", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and says in err[-1] and str(path) in err[-1]
    assert not any("Traceback" in line for line in err)


def test_an_unknown_board_name_lists_the_bundled_ones(capsys):
    with pytest.raises(SystemExit):
        cli.main(["replay", "--board", "nope"])
    err = capsys.readouterr().err
    assert "unknown board 'nope'" in err and "esp32, esp32s3, rp2040, unix" in err
