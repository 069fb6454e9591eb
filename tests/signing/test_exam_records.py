"""`manage.py make_exam_records N DIR`: N one-page PDFs that pass the intake, content fixed by the index."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from django.core.management import call_command

from signing.exam_records import exam_record_data
from signing.pdf_input import pdf_intake


def test_it_writes_three_records_that_pass_the_intake(tmp_path: Path):
    out = StringIO()
    call_command("make_exam_records", "3", str(tmp_path / "verbali"), stdout=out)
    paths = sorted((tmp_path / "verbali").iterdir())
    assert [p.name for p in paths] == ["verbale-00001.pdf", "verbale-00002.pdf", "verbale-00003.pdf"]
    documents = pdf_intake(files=[(p.name, p.read_bytes()) for p in paths])
    assert [d.page_count for d in documents] == [1, 1, 1]
    assert len({d.sha256 for d in documents}) == 3
    assert "3 exam records in" in out.getvalue() and "records/s" in out.getvalue()


def test_the_content_of_a_record_depends_only_on_its_index():
    assert exam_record_data(index=7) == exam_record_data(index=7)
    assert exam_record_data(index=7) != exam_record_data(index=8)
    record = exam_record_data(index=7)
    assert record.exam_date.weekday() < 5
    assert len(record.matricola) == 6
