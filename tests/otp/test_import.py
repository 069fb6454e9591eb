"""Hardware-token seed import: CSV and PSKC (RFC 6030) files, the report, the admin page, the command."""

from __future__ import annotations

import base64
import io
import re

import pskc
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import execute_from_command_line
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts.models import User, UserKind
from audit.models import AuditEvent
from core.errors import ApplicationError
from otp.importing import MAX_TOKENS, tokens_import
from otp.models import Algorithm, DeviceKind, DeviceState, OtpDevice
from otp.oath import hotp, totp
from otp.services import device_create, device_verify
from tests.conftest import login, platform_admin, staff_token


def stock():
    """Devices that are not a member of staff's own second factor (the world's staff have tokens)."""
    return OtpDevice.objects.filter(staff_user=None)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_messages():
    """The assertions below read the English msgids; the Italian ones are checked by tests/test_i18n.py."""
    with translation.override("en"):
        yield

SEED = bytes.fromhex("3132333435363738393031323334353637383930")  # RFC 4226's "12345678901234567890"
SEED_HEX = SEED.hex()
OTHER_SEED = bytes(range(1, 33))
HEADER = "serial,key,type,digits,counter_or_period\n"
T = 1_800_000_000.0
PASSPHRASE = "Cassetta-Dei-Token-2026"
PSK = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
ADMIN_PASSWORD = "Amministra-La-Piattaforma-1"


def csv_file(*rows: str) -> bytes:
    return (HEADER + "".join(row + "\n" for row in rows)).encode()


def run(content: bytes, filename: str = "tokens.csv", **kw):
    return tokens_import(content=content, filename=filename, actor=None, **kw)


def assign(serial: str, holder) -> OtpDevice:
    OtpDevice.objects.filter(serial=serial).update(holder=holder, state=DeviceState.ACTIVE)
    return OtpDevice.objects.get(serial=serial)


def pskc_file(*, encrypt: str | None = None, tokens=None) -> bytes:
    container = pskc.PSKC()
    for serial, kind, extra in tokens or [
        ("4000000000001", "hotp", {"counter": 7}),
        ("4000000000002", "totp", {"time_interval": 60, "algorithm_suite": "HMAC-SHA256"}),
    ]:
        container.add_key(
            serial=serial, secret=extra.pop("secret", SEED), algorithm=f"urn:ietf:params:xml:ns:keyprov:pskc:{kind}",
            response_length=extra.pop("digits", 6), response_encoding="DECIMAL", manufacturer="Token S.p.A.", **extra,
        )
    if encrypt == "psk":
        container.encryption.setup_preshared_key(key=PSK, key_name="Vendor batch 42")
    elif encrypt == "passphrase":
        container.encryption.setup_pbkdf2(PASSPHRASE, iterations=2000)
    out = io.BytesIO()
    container.write(out)
    return out.getvalue()


def flip_first_secret_byte(xml: bytes, element: str = "CipherValue") -> bytes:
    """Alter the first byte of the first secret's ciphertext (its CBC IV) or of its ValueMAC."""
    text = xml.decode()
    secret_at = text.index("<pskc:Secret>")
    match = re.compile(rf"<[a-z0-9]+:{element}>([^<]+)<").search(text, secret_at)
    raw = bytearray(base64.b64decode(match.group(1)))
    raw[0] ^= 0x01
    return (text[: match.start(1)] + base64.b64encode(bytes(raw)).decode() + text[match.end(1):]).encode()


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_tokens_are_imported_in_stock_and_their_codes_verify_once_assigned(world):
    report = run(csv_file(
        f"1000000000001,{SEED_HEX},hotp,6,5",
        f"1000000000002,{OTHER_SEED.hex().upper()},TOTP,8,60",
        f"1000000000003,{' '.join(SEED_HEX[i:i + 8] for i in range(0, 40, 8))},hotp,6,",
    ))

    assert report.imported == ["1000000000001", "1000000000002", "1000000000003"]
    assert report.duplicates == [] and report.rejected == []
    hotp_token, totp_token, spaced = (OtpDevice.objects.get(serial=s) for s in report.imported)
    assert (hotp_token.kind, hotp_token.state, hotp_token.holder, hotp_token.counter, hotp_token.digits) == (
        DeviceKind.HARDWARE_HOTP, DeviceState.AVAILABLE, None, 5, 6
    )
    assert (totp_token.kind, totp_token.period, totp_token.digits, totp_token.algorithm) == (
        DeviceKind.HARDWARE_TOTP, 60, 8, Algorithm.SHA1
    )
    assert spaced.counter == 0
    assert SEED not in bytes(hotp_token.seed_ciphertext)

    device = assign("1000000000001", world.alpha.holder)
    assert not device_verify(device=device, code=hotp(SEED, 4), purpose="test").ok  # before the imported counter
    assert device_verify(device=device, code=hotp(SEED, 5), purpose="test").ok
    device = assign("1000000000002", world.alpha.holders[1])
    code = totp(OTHER_SEED, T, period=60, digits=8)
    assert device_verify(device=device, code=code, purpose="test", now=T).ok
    assert not device_verify(device=device, code=code, purpose="test", now=T).ok  # once only


def test_an_import_leaves_one_summary_audit_row_with_counts_and_no_seed(world):
    device_create(kind=DeviceKind.HARDWARE_HOTP, seed=OTHER_SEED, serial="1000000000009", state=DeviceState.AVAILABLE)
    run(csv_file(f"1000000000001,{SEED_HEX},hotp,6,0", f"1000000000009,{SEED_HEX},hotp,6,0", "12,zz,hotp,6,0"))

    event = AuditEvent.objects.get(event_type="otp.tokens_imported")
    assert event.details == {
        "filename": "tokens.csv", "format": "csv", "rows": 3, "imported": 1, "duplicates": 1, "rejected": 1
    }
    rows = list(AuditEvent.objects.values_list("details", flat=True))
    assert SEED_HEX not in repr(rows) and SEED_HEX.upper() not in repr(rows)


def test_duplicates_within_the_file_and_against_the_inventory_are_reported_not_imported(world):
    device_create(kind=DeviceKind.HARDWARE_HOTP, seed=OTHER_SEED, serial="2000000000001", state=DeviceState.AVAILABLE)
    report = run(csv_file(
        f"2000000000001,{SEED_HEX},hotp,6,0",  # already in stock
        f"2000000000002,{SEED_HEX},hotp,6,0",  # twice in the file, with two seeds:
        f"2000000000002,{OTHER_SEED.hex()},hotp,6,0",  # which one is in the box? neither is imported
        f"2000000000003,{SEED_HEX},totp,6,30",
    ))

    assert report.imported == ["2000000000003"]
    assert [(d.row, d.serial, d.problem) for d in report.duplicates] == [
        (2, "2000000000001", "duplicate_in_database"),
        (3, "2000000000002", "duplicate_in_file"),
        (4, "2000000000002", "duplicate_in_file"),
    ]
    assert not OtpDevice.objects.filter(serial="2000000000002").exists()
    # The token already in stock keeps its own seed.
    existing = OtpDevice.objects.get(serial="2000000000001")
    existing.holder, existing.state = world.alpha.holder, DeviceState.ACTIVE
    existing.save()
    assert device_verify(device=existing, code=hotp(OTHER_SEED, 0), purpose="test").ok


def test_bad_rows_are_rejected_with_their_reason_and_the_good_ones_imported(world):
    report = run(csv_file(
        f"123456789012,{SEED_HEX},hotp,6,0",  # 12 digits
        f"123456789012a,{SEED_HEX},hotp,6,0",
        f"{SEED_HEX},3000000000002,hotp,6,0",  # swapped columns: the seed must not be echoed
        "3000000000003,not-hex,hotp,6,0",
        f"3000000000004,{SEED_HEX[:-1]},hotp,6,0",  # odd number of hex digits
        "3000000000005,00112233,hotp,6,0",  # 4 bytes: too short
        f"3000000000006,{'ab' * 65},hotp,6,0",  # 65 bytes: too long
        f"3000000000007,{SEED_HEX},ocra,6,0",
        f"3000000000008,{SEED_HEX},hotp,7,0",
        f"3000000000009,{SEED_HEX},hotp,6,-1",
        f"3000000000010,{SEED_HEX},totp,6,5",  # period too short
        f"3000000000011,{SEED_HEX},totp,6,abc",
        f"3000000000012,{SEED_HEX},hotp,6",  # a field missing
        f"3000000000013,{SEED_HEX},hotp,6,0",  # the good one
    ))

    assert report.imported == ["3000000000013"]
    assert [(r.row, r.serial, r.problem) for r in report.rejected] == [
        (2, "", "bad_serial"), (3, "", "bad_serial"), (4, "", "bad_serial"), (5, "3000000000003", "bad_key"),
        (6, "3000000000004", "bad_key"), (7, "3000000000005", "bad_key"), (8, "3000000000006", "bad_key"),
        (9, "3000000000007", "bad_type"), (10, "3000000000008", "bad_digits"), (11, "3000000000009", "bad_counter"),
        (12, "3000000000010", "bad_period"), (13, "3000000000011", "bad_period"), (14, "3000000000012", "bad_row"),
    ]
    assert all(str(r.reason) for r in report.rejected)
    assert SEED_HEX not in repr(report) and SEED_HEX not in " ".join(str(r.reason) for r in report.rejected)
    assert "13 digits" in str(report.rejected[0].reason)


def test_a_semicolon_separated_csv_with_a_bom_from_a_spreadsheet_is_read():
    content = "\ufeffSerial;Key;Type;Digits;Counter_or_period\r\n5000000000001;" + SEED_HEX + ";hotp;6;0\r\n"
    assert run(content.encode()).imported == ["5000000000001"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "import_empty"),
        (HEADER.encode(), "import_no_tokens"),
        (f"serial,seed,type\n1000000000001,{SEED_HEX},hotp\n".encode(), "import_csv_header"),
        (f'{HEADER}1000000000001,"{SEED_HEX},hotp,6,0\n'.encode(), "import_csv_malformed"),
        (HEADER.encode() + b"1000000000001,\xff\xfe,hotp,6,0\n", "import_encoding"),
        (HEADER.encode() + b"1000000000001,\x00,hotp,6,0\n", "import_encoding"),
    ],
)
def test_a_malformed_csv_file_is_refused_as_a_whole_with_a_clear_error(world, content, code):
    good = f"9000000000001,{SEED_HEX},hotp,6,0\n".encode()
    with pytest.raises(ApplicationError) as refused:
        run(content + (good if code in ("import_csv_malformed", "import_encoding") else b""))

    assert refused.value.code == code
    assert str(refused.value.message)
    assert not stock().exists()
    assert AuditEvent.objects.get(event_type="otp.tokens_import_refused").details["reason"] == code


def test_oversized_files_and_too_many_rows_are_refused(world):
    with pytest.raises(ApplicationError) as refused:
        run(csv_file(f"1000000000001,{SEED_HEX},hotp,6,0") + b"#" * (4 * 1024 * 1024))
    assert refused.value.code == "import_too_large"

    rows = [f"{6000000000000 + n},{SEED_HEX},hotp,6,0" for n in range(MAX_TOKENS + 1)]
    with pytest.raises(ApplicationError) as refused:
        run(csv_file(*rows))
    assert refused.value.code == "import_too_many"
    assert not stock().exists()


def test_a_passphrase_given_with_a_csv_file_is_refused():
    with pytest.raises(ApplicationError) as refused:
        run(csv_file(f"1000000000001,{SEED_HEX},hotp,6,0"), passphrase="anything")
    assert refused.value.code == "import_not_encrypted"
    assert not stock().exists()


# --- PSKC ----------------------------------------------------------------------------------------


def _check_pskc_tokens(world):
    hotp_token = assign("4000000000001", world.alpha.holder)
    totp_token = assign("4000000000002", world.alpha.holders[1])
    assert (hotp_token.kind, hotp_token.counter) == (DeviceKind.HARDWARE_HOTP, 7)
    assert (totp_token.kind, totp_token.period, totp_token.algorithm) == (DeviceKind.HARDWARE_TOTP, 60, "sha256")
    assert device_verify(device=hotp_token, code=hotp(SEED, 7), purpose="test").ok
    code = totp(SEED, T, period=60, algorithm="sha256")
    assert device_verify(device=totp_token, code=code, purpose="test", now=T).ok


def test_an_unencrypted_pskc_file_is_imported(world):
    report = run(pskc_file(), filename="batch.pskcxml")
    assert report.file_format == "pskc"
    assert report.imported == ["4000000000001", "4000000000002"]
    _check_pskc_tokens(world)


def test_a_pskc_file_encrypted_with_a_pre_shared_key_is_imported(world):
    report = run(pskc_file(encrypt="psk"), filename="batch.xml", psk_hex=PSK.hex().upper())
    assert report.imported == ["4000000000001", "4000000000002"]
    _check_pskc_tokens(world)


def test_a_pskc_file_encrypted_with_a_passphrase_is_imported(world):
    report = run(pskc_file(encrypt="passphrase"), filename="batch.pskc", passphrase=PASSPHRASE)
    assert report.imported == ["4000000000001", "4000000000002"]
    _check_pskc_tokens(world)


def test_a_pskc_file_is_recognised_by_its_content_whatever_its_name(world):
    assert run(pskc_file(), filename="upload").file_format == "pskc"


@pytest.mark.parametrize(
    ("encrypt", "kw", "codes"),
    [
        ("passphrase", {"passphrase": "Cassetta-Dei-Token-2025"}, {"import_decrypt_failed", "import_mac_mismatch"}),
        ("psk", {"psk_hex": "ff" * 16}, {"import_decrypt_failed", "import_mac_mismatch"}),
        ("passphrase", {}, {"import_passphrase_needed"}),
        ("psk", {}, {"import_psk_needed"}),
        ("psk", {"passphrase": PASSPHRASE}, {"import_psk_needed"}),
        ("passphrase", {"psk_hex": PSK.hex()}, {"import_passphrase_needed"}),
        ("psk", {"psk_hex": "00112233"}, {"import_bad_psk"}),
        ("psk", {"psk_hex": "not a key"}, {"import_bad_psk"}),
        (None, {"passphrase": PASSPHRASE}, {"import_not_encrypted"}),
    ],
)
def test_a_wrong_missing_or_misplaced_passphrase_or_key_imports_nothing(world, encrypt, kw, codes):
    with pytest.raises(ApplicationError) as refused:
        run(pskc_file(encrypt=encrypt), filename="batch.xml", **kw)
    assert refused.value.code in codes
    assert "Nothing was imported" in str(refused.value.message) or refused.value.code not in (
        "import_decrypt_failed", "import_mac_mismatch"
    )
    assert not stock().exists()


@pytest.mark.parametrize("element", ["CipherValue", "ValueMAC"])
def test_a_mac_mismatch_imports_nothing(world, element):
    tampered = flip_first_secret_byte(pskc_file(encrypt="psk"), element)
    with pytest.raises(ApplicationError) as refused:
        run(tampered, filename="batch.xml", psk_hex=PSK.hex())
    assert refused.value.code == "import_mac_mismatch"
    assert "MAC" in str(refused.value.message)
    assert not stock().exists()
    assert AuditEvent.objects.get(event_type="otp.tokens_import_refused").details["reason"] == "import_mac_mismatch"


def test_an_encrypted_secret_stripped_of_its_mac_is_refused(world):
    content = re.sub(rb"<pskc:ValueMAC>[^<]*</pskc:ValueMAC>", b"", pskc_file(encrypt="psk"), count=1)
    with pytest.raises(ApplicationError) as refused:
        run(content, filename="batch.xml", psk_hex=PSK.hex())
    assert refused.value.code == "import_mac_missing"
    assert not stock().exists()


def test_a_clear_secret_slipped_into_an_encrypted_file_is_refused(world):
    clear = pskc_file(tokens=[("4000000000003", "hotp", {})])
    package = re.search(rb"<pskc:KeyPackage>.*</pskc:KeyPackage>", clear, re.S).group(0)
    content = pskc_file(encrypt="psk").replace(b"</pskc:KeyContainer>", package + b"\n</pskc:KeyContainer>")
    with pytest.raises(ApplicationError) as refused:
        run(content, filename="batch.xml", psk_hex=PSK.hex())
    assert refused.value.code == "import_mixed_secrets"
    assert not stock().exists()


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"<KeyContainer><KeyPackage>", "import_bad_xml"),
        (b"<?xml version='1.0'?><html><body>not pskc</body></html>", "import_bad_xml"),
        (
            b'<?xml version="1.0"?><!DOCTYPE KeyContainer [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b'<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0">&b;</KeyContainer>',
            "import_xml_dtd",
        ),
        (
            b'<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0"><KeyPackage><Key '
            b'Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp"><AlgorithmParameters><ResponseFormat Length="six"/>'
            b"</AlgorithmParameters></Key></KeyPackage></KeyContainer>",
            "import_bad_xml",
        ),
        (b'<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0"/>', "import_no_tokens"),
    ],
)
def test_bad_xml_is_refused_with_a_clear_error(world, content, code):
    with pytest.raises(ApplicationError) as refused:
        run(content, filename="batch.xml")
    assert refused.value.code == code
    assert str(refused.value.message)
    assert not stock().exists()


def test_an_absurd_pbkdf2_iteration_count_is_refused_before_deriving(world):
    content = pskc_file(encrypt="passphrase").replace(b"<IterationCount>2000<", b"<IterationCount>999999999<")
    with pytest.raises(ApplicationError) as refused:
        run(content, filename="batch.xml", passphrase=PASSPHRASE)
    assert refused.value.code == "import_unsupported_encryption"


def test_bad_pskc_keys_are_rejected_one_by_one(world):
    report = run(pskc_file(tokens=[
        ("40000000001", "hotp", {}),  # 11 digits
        ("4000000000012", "hotp", {"digits": 7}),
        ("4000000000013", "hotp", {"secret": b"short"}),
        ("4000000000014", "totp", {"algorithm_suite": "HMAC-MD5"}),
        ("4000000000015", "totp", {"time_offset": 3}),
        ("4000000000016", "ocra", {}),
        ("4000000000017", "hotp", {"policy__key_usage": ["Encrypt"]}),
        ("4000000000018", "totp", {"digits": 8, "algorithm_suite": "HMAC-SHA512", "secret": OTHER_SEED * 2}),
    ]), filename="batch.xml")

    assert report.imported == ["4000000000018"]
    assert [(r.row, r.serial, r.problem) for r in report.rejected] == [
        (1, "", "bad_serial"), (2, "4000000000012", "bad_digits"), (3, "4000000000013", "bad_key"),
        (4, "4000000000014", "bad_algorithm"), (5, "4000000000015", "bad_period"), (6, "4000000000016", "bad_type"),
        (7, "4000000000017", "bad_policy"),
    ]
    assert OtpDevice.objects.get(serial="4000000000018").algorithm == "sha512"


# --- Django admin --------------------------------------------------------------------------------


IMPORT_URL = "admin:otp_otpdevice_import"


def admin_client(client: Client, **kw) -> Client:
    platform_admin(client, "piattaforma", ADMIN_PASSWORD, **kw)
    return client


def upload(content: bytes, name: str = "tokens.csv", **fields) -> dict:
    return {"file": SimpleUploadedFile(name, content), "passphrase": "", "psk_hex": "", **fields}


def test_a_platform_admin_imports_a_file_from_the_device_list(world, client):
    admin_client(client)
    changelist = client.get(reverse("admin:otp_otpdevice_changelist"))
    assert reverse(IMPORT_URL) in changelist.content.decode()

    response = client.post(
        reverse(IMPORT_URL), upload(pskc_file(encrypt="psk"), "batch.xml", psk_hex=PSK.hex())
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="import-report"' in page and "4000000000001" in page and "4000000000002" in page
    assert OtpDevice.objects.filter(state=DeviceState.AVAILABLE).count() == 2
    event = AuditEvent.objects.get(event_type="otp.tokens_imported")
    assert event.actor_username == "piattaforma" and event.details["imported"] == 2

    listing = client.get(reverse("admin:otp_otpdevice_changelist")).content.decode()
    assert "4000000000001" in listing
    detail = client.get(reverse("admin:otp_otpdevice_change", args=[stock().first().pk])).content.decode()
    assert "field-serial" in detail and "field-seed" not in detail and 'name="serial"' not in detail  # read-only
    assert client.get(reverse("admin:otp_otpdevice_add")).status_code == 403


def test_the_admin_page_shows_rejected_rows_and_refusals_without_a_500(world, client):
    admin_client(client)
    response = client.post(reverse(IMPORT_URL), upload(csv_file(f"12,{SEED_HEX},hotp,6,0")))
    assert response.status_code == 200
    assert "13" in response.content.decode() and SEED_HEX not in response.content.decode()

    response = client.post(reverse(IMPORT_URL), upload(pskc_file(encrypt="passphrase"), "b.xml", passphrase="no"))
    assert response.status_code == 400
    assert 'id="import-error"' in response.content.decode()
    assert not stock().exists()

    response = client.post(reverse(IMPORT_URL), upload(b"x", passphrase="a", psk_hex="00"))
    assert response.status_code == 400
    response = client.post(reverse(IMPORT_URL), {"passphrase": ""})  # no file at all
    assert response.status_code == 400


def test_holders_and_operators_cannot_reach_the_import(world, holder_client):
    response = holder_client.post(reverse(IMPORT_URL), upload(csv_file(f"1000000000001,{SEED_HEX},hotp,6,0")))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]
    assert not stock().exists()


def test_a_staff_account_without_the_permission_is_refused(world, client):
    assistant = User.objects.create_user(
        "assistente", ADMIN_PASSWORD, kind=UserKind.PLATFORM_ADMIN, is_staff=True, email="a@example.org"
    )
    staff_token(assistant)
    response = login(client, "assistente", ADMIN_PASSWORD, portal="admin")
    assert response.status_code == 302
    response = client.post(reverse(IMPORT_URL), upload(csv_file(f"1000000000001,{SEED_HEX},hotp,6,0")))
    assert response.status_code == 403
    assert not stock().exists()


def test_the_import_form_is_csrf_protected(world, client):
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = admin_client(client).cookies  # the admin's session, in a browser that checks CSRF
    assert strict.get(reverse(IMPORT_URL)).status_code == 200
    response = strict.post(reverse(IMPORT_URL), upload(csv_file(f"1000000000001,{SEED_HEX},hotp,6,0")))
    assert response.status_code == 403
    assert not stock().exists()


def test_an_upload_declared_too_large_is_refused_before_reading(world, client):
    admin_client(client)
    response = client.post(
        reverse(IMPORT_URL), upload(csv_file(f"1000000000001,{SEED_HEX},hotp,6,0")), CONTENT_LENGTH=str(50 * 2**20)
    )
    assert response.status_code == 413
    assert not stock().exists()


# --- manage.py otp_import_tokens -----------------------------------------------------------------


@pytest.fixture
def command(monkeypatch):
    """Run the command as ``manage.py`` does and return its exit status."""
    # run_from_argv closes every connection when it ends, which would close the test database.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    return _command


def _command(*args: str) -> int:
    try:
        execute_from_command_line(["manage.py", "otp_import_tokens", *args])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def test_the_command_prints_the_report_and_exits_zero(world, tmp_path, capsys, command):
    (tmp_path / "batch.xml").write_bytes(pskc_file(encrypt="passphrase"))
    (tmp_path / "passphrase").write_text(PASSPHRASE + "\n")
    assert command(str(tmp_path / "batch.xml"), "--passphrase-file", str(tmp_path / "passphrase")) == 0
    out = capsys.readouterr().out
    assert "4000000000001" in out and "4000000000002" in out
    assert stock().count() == 2

    (tmp_path / "tokens.csv").write_bytes(csv_file(f"4000000000001,{SEED_HEX},hotp,6,0", "1,zz,hotp,6,0"))
    assert command(str(tmp_path / "tokens.csv")) == 0
    out = capsys.readouterr().out
    assert "row 2" in out and "row 3" in out and SEED_HEX not in out


def test_the_command_exits_non_zero_on_a_structural_error(world, tmp_path, capsys, command):
    (tmp_path / "batch.xml").write_bytes(pskc_file(encrypt="psk"))
    (tmp_path / "psk").write_text("ff" * 16)
    assert command(str(tmp_path / "batch.xml"), "--psk-file", str(tmp_path / "psk")) == 1
    assert "Nothing was imported" in capsys.readouterr().err
    assert command(str(tmp_path / "missing.csv")) == 1
    assert not stock().exists()
