"""Values from the log are shown literally in reports: no formulas, no reordering, bounded."""

import json
import re

import pandas as pd
import pytest
from hostile import hostile_log, replace_actor

from audit_analytics.report import charts

RLO = "\u202e"


def _svg_texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


@pytest.fixture(scope="module")
def math_log(tmp_path_factory):
    """Resources named like mathtext, one unparsable, and an actor with failures."""
    def edit(row):
        if row["resource_id"].startswith("MRN-0"):
            row["resource_id"] = "$\\x$"
        elif row["resource_id"].startswith("MRN-1"):
            row["resource_id"] = "$\\alpha$"
        if row["result"] != "success":
            row["actor_id"] = "$\\beta$"

    return hostile_log(tmp_path_factory.mktemp("math") / "math.parquet", edit)


def test_mathtext_values_are_drawn_literally(cli, math_log, tmp_path):
    proc = cli("--no-progress", "report", math_log, "--period", "2024-01", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "audit-report_2024-01.html").read_text()
    svgs = re.findall(r"<svg.*?</svg>", html, re.DOTALL)
    texts = [t for svg in svgs for t in _svg_texts(svg)]
    assert "patient_record:$\\alpha$" in texts
    assert "patient_record:$\\x$" in texts
    assert "$\\beta$" in texts
    assert "\u03b1" not in html and "\u03b2" not in html  # never drawn as a formula


def test_chart_labels_are_literal_and_visible():
    frame = pd.DataFrame({"bucket": [pd.Timestamp("2024-01-01")] * 3,
                          "result": ["success", "$\\gamma$", "_hidden"], "n": [3, 2, 1]})
    texts = _svg_texts(charts.activity_chart(frame, "day"))
    assert "$\\gamma$" in texts and "_hidden" in texts  # legend labels, as written
    svg = charts.resources_chart(pd.DataFrame({
        "resource": [f"r:{RLO}gnp.exe", "r:a\x1b]0;x\x07", "r:" + "y" * 500], "n": [3, 2, 1]}))
    texts = _svg_texts(svg)
    assert "r:\\u202egnp.exe" in texts and "r:a\\x1b]0;x\\x07" in texts
    assert RLO not in svg and "\x1b" not in svg
    assert max(len(t) for t in texts) <= 48


def test_huge_value_keeps_the_report_small_and_the_json_whole(cli, tmp_path):
    huge = "A" * 1_000_000 + RLO + "txt.exe"
    log = hostile_log(tmp_path / "huge.parquet", replace_actor("u-0020", huge))
    out = tmp_path / "out"
    proc = cli("--no-progress", "report", log, "--period", "2024-01", "--out", out)
    assert proc.returncode == 0, proc.stderr
    html_path = out / "audit-report_2024-01.html"
    assert html_path.stat().st_size < 2_000_000
    html = html_path.read_text()
    assert RLO not in html
    assert "A" * 200 + "\u2026 (1,000,008 characters)" in html
    doc = json.loads((out / "audit-report_2024-01.json").read_text())
    flat = json.dumps(doc, ensure_ascii=False)
    assert huge in flat  # the JSON keeps the value whole
    assert RLO not in (out / "audit-report_2024-01.json").read_text()  # as \u202e
