"""Italian first and complete; English is the msgids. The committed catalogue matches the code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "it" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w*\}")


def test_every_italian_message_is_translated_and_none_is_fuzzy():
    catalogue = polib.pofile(str(PO))
    assert [e.msgid for e in catalogue.untranslated_entries()] == []
    assert [e.msgid for e in catalogue.fuzzy_entries()] == []
    assert len(catalogue.translated_entries()) > 100


def test_translations_keep_every_placeholder():
    for entry in polib.pofile(str(PO)).translated_entries():
        if entry.msgid_plural:
            # Each form may drop the count (Italian "L'ultimo messaggio"), none may invent or lose others.
            expected = set(PLACEHOLDER.findall(entry.msgid)) | set(PLACEHOLDER.findall(entry.msgid_plural))
            found = [set(PLACEHOLDER.findall(text)) for text in entry.msgstr_plural.values()]
            assert all(form <= expected for form in found) and set().union(*found) == expected, entry.msgid
        else:
            assert set(PLACEHOLDER.findall(entry.msgstr)) == set(PLACEHOLDER.findall(entry.msgid)), entry.msgid


def test_compiled_catalogue_matches_the_source():
    compiled = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural for e in polib.mofile(str(MO))}
    source = {
        (e.msgctxt, e.msgid): e.msgstr or {int(k): v for k, v in e.msgstr_plural.items()}
        for e in polib.pofile(str(PO)).translated_entries()
    }
    compiled = {k: ({int(i): s for i, s in v.items()} if isinstance(v, dict) else v) for k, v in compiled.items()}
    compiled.pop((None, ""), None)  # the header
    assert compiled == source, "run `make messages` and commit locale/it/LC_MESSAGES/django.mo"


def test_catalogue_contains_every_string_of_the_code(tmp_path):
    """Re-extract from a copy of the sources: a string added without `make messages` fails here."""
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT, copy, ignore=shutil.ignore_patterns(".venv", "var", ".git", "static", "node_modules", "*.mo", "tests")
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "makemessages", "--locale", "it", "--no-obsolete", "--ignore", "tests/*"],
        cwd=copy, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "DJANGO_DEBUG": "true", "VAR_DIR": str(tmp_path / "var")},
    )
    assert result.returncode == 0, result.stderr
    extracted = {(e.msgctxt, e.msgid) for e in polib.pofile(str(copy / "locale/it/LC_MESSAGES/django.po"))}
    committed = {(e.msgctxt, e.msgid) for e in polib.pofile(str(PO))}
    assert extracted - committed == set(), "new strings: run `make messages`, translate them, commit"
    assert committed - extracted == set(), "strings no longer used: run `make messages` (it drops them)"
