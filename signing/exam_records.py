"""Sample exam records ("verbali d'esame") for trying the panel and the batch API: one-page Italian PDFs
rendered by WeasyPrint from one HTML template, the content a pure function of the record's index.

Speed: the template, the stylesheet and the font configuration are loaded once; each record is one
template render and one WeasyPrint layout.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.template.loader import get_template

from signing.forms import DEFAULT_SIGNATURE_BOX

T = TypeVar("T")

UNIVERSITY = "Università degli Studi di Alfa"
DEPARTMENT = "Dipartimento di Scienze e Ingegneria"
COURSES = [
    ("Analisi matematica I", 9), ("Fisica generale", 9), ("Diritto privato", 12), ("Economia aziendale", 9),
    ("Chimica organica", 6), ("Storia contemporanea", 6), ("Fondamenti di programmazione", 9),
    ("Statistica", 6), ("Geometria e algebra lineare", 6), ("Letteratura italiana", 12),
]
GIVEN_NAMES = [
    "Giulia", "Francesco", "Sofia", "Alessandro", "Aurora", "Lorenzo", "Ginevra", "Matteo", "Beatrice",
    "Leonardo", "Chiara", "Tommaso", "Martina", "Riccardo", "Elena", "Gabriele", "Alice", "Andrea",
]
SURNAMES = [
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
    "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti",
]
GRADES = [str(grade) for grade in range(18, 31)] + ["30 e lode"]
FIRST_SESSION = date(2025, 1, 13)
TEMPLATE = "signing/exam_record.html"
STYLESHEET = Path(settings.BASE_DIR) / "templates" / "signing" / "exam_record.css"


@dataclass(frozen=True)
class ExamRecord:
    number: int
    university: str
    department: str
    course: str
    credits: int
    student_given_name: str
    student_surname: str
    matricola: str
    exam_date: date
    grade: str
    professor: str
    academic_year: str


def _pick(digest: bytes, offset: int, items: Sequence[T]) -> T:
    return items[int.from_bytes(digest[offset : offset + 2], "big") % len(items)]


def exam_record_data(*, index: int, professor: str = "Prof. Mario Rossi") -> ExamRecord:
    """The record number ``index`` (from 1): the same index always gives the same record."""
    digest = hashlib.sha256(f"exam-record:{index}".encode()).digest()
    course, credits = _pick(digest, 0, COURSES)
    day = FIRST_SESSION + timedelta(days=int.from_bytes(digest[8:10], "big") % 150)
    day -= timedelta(days=max(0, day.weekday() - 4))  # exams are held Monday to Friday
    year = day.year if day.month >= 9 else day.year - 1
    return ExamRecord(
        number=index,
        university=UNIVERSITY,
        department=DEPARTMENT,
        course=course,
        credits=credits,
        student_given_name=_pick(digest, 2, GIVEN_NAMES),
        student_surname=_pick(digest, 4, SURNAMES),
        matricola=f"{100000 + int.from_bytes(digest[10:14], 'big') % 900000}",
        exam_date=day,
        grade=_pick(digest, 6, GRADES),
        professor=professor,
        academic_year=f"{year}/{year + 1}",
    )


def exam_records_write(
    *, count: int, directory: Path, professor: str = "Prof. Mario Rossi"
) -> tuple[list[Path], float]:
    """Write ``count`` records as ``verbale-00001.pdf``…; return the paths and the seconds it took."""
    # WeasyPrint logs every layout step at INFO: seven lines per record.
    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    import weasyprint  # only this command needs WeasyPrint (and Pango): the web process never loads it

    started = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    template = get_template(TEMPLATE)
    fonts = weasyprint.text.fonts.FontConfiguration()
    stylesheet = weasyprint.CSS(filename=str(STYLESHEET), font_config=fonts)
    x1, y1, x2, y2 = DEFAULT_SIGNATURE_BOX
    # Page coordinates (the page has no margins): bottom-left origin, like the PDF box.
    box = weasyprint.CSS(
        string=f".signature {{ left: {x1}pt; bottom: {y1}pt; width: {x2 - x1}pt; height: {y2 - y1}pt; }}"
        f".signature-caption {{ left: {x1}pt; bottom: {y2 + 4}pt; width: {x2 - x1}pt; }}",
        font_config=fonts,
    )
    paths = []
    for index in range(1, count + 1):
        html = template.render({"record": exam_record_data(index=index, professor=professor)})
        path = directory / f"verbale-{index:05d}.pdf"
        weasyprint.HTML(string=html).write_pdf(path, stylesheets=[stylesheet, box], font_config=fonts)
        paths.append(path)
    return paths, time.perf_counter() - started
