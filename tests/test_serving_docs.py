"""docs/serving.md: its signature tables are what the code exports, and its requests name
signatures of their model."""

import pathlib
import re

import pytest

from keras_i2i import export

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "serving.md"
BLOCK = re.compile(r"<!-- signatures: python -m keras_i2i\.export --describe (.+?) -->\n"
                   r"(.*?)\n?<!-- /signatures -->", re.DOTALL)
# Narrower networks than the presets', to build in seconds: widths and depths do not enter the
# signatures (the layouts hold labels, channels, code lengths and frame counts, the outputs'
# shapes too), and the downsamplings, which set size_multiple, are the presets'.
NARROW = {
    "spade": ["ngf=4", "ndf=4", "spade_hidden=8", "lambda_vgg=0"],
    "pix2pixhd": ["ngf=4", "ndf=4", "nef=4", "n_blocks_global=1", "n_blocks_local=1",
                  "lambda_vgg=0"],
    "munit": ["dim=4", "mlp_dim=8", "dis_dim=4", "n_res=1", "vgg_weight=0"],
    "drit": ["width=4"],
    "mdmm": ["width=4"],
    "init": ["dim=4", "mlp_dim=8", "dis_dim=4", "n_res=1", "vgg_weight=0"],
    "vid2vid": ["ngf=4", "ndf=4", "n_blocks=1", "n_blocks_local=1", "lambda_vgg=0"],
}


def _blocks():
    """`[(describe arguments, table, the text up to the next block)]` of the doc."""
    text = DOC.read_text()
    matches = list(BLOCK.finditer(text))
    ends = [m.start() for m in matches[1:]] + [len(text)]
    return [(m[1].split(), m[2], text[m.end():end]) for m, end in zip(matches, ends)]


BLOCKS = _blocks()


def test_every_model_has_a_table():
    assert sorted({arguments[0] for arguments, _, _ in BLOCKS}) == sorted(NARROW)
    assert len(BLOCKS) == 8  # SPADE twice: with and without its VAE


@pytest.mark.parametrize("index", [
    pytest.param(index, marks=[] if arguments[0] == "mdmm" else [pytest.mark.slow],
                 id=" ".join(arguments))
    for index, (arguments, _, _) in enumerate(BLOCKS)
])
def test_tables_are_the_exported_signatures(index, capsys):
    arguments, table, section = BLOCKS[index]
    export.main(["--describe", *arguments, *NARROW[arguments[0]]])
    expected = capsys.readouterr().out.strip()
    assert table == expected, f"docs/serving.md, {' '.join(arguments)}: write\n{expected}"
    names = set(re.findall(r"^\| `(\w+)`", table, re.MULTILINE))
    requested = set(re.findall(r'"signature_name": "(\w+)"', section))
    assert requested and requested <= names, f"{sorted(requested - names)} not in {names}"
