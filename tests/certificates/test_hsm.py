"""What only the PKCS#11 vault promises: keys that cannot leave the device, a database (with every
secret of the environment) that opens nothing, a process that does not start on a wrong device
configuration, and an outage that is an outage — never a crash or a spent authorization."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.exceptions import AttributeSensitive, KeyUnextractable

from certificates import hsm
from certificates.models import CertificateAuthority, CertificateKey
from certificates.services import certificate_key_unlock
from certificates.services.authority import authority_private_key
from certificates.vault import (
    KeyUnavailable,
    SoftwareKeyVault,
    VaultUnavailable,
    key_release,
    pin_key_derive,
    sealed_from_row,
)
from tests.certificates.conftest import PIN, active
from tests.hsm import ROOT, SoftToken, device_outage  # noqa: F401  (fixture)

pytestmark = pytest.mark.parametrize("key_vault", ["pkcs11"], indirect=True)


def _session_private_keys() -> list:
    """Private keys that exist in the device only for a session (holder keys in use)."""
    with hsm.device_get().session() as session:
        return list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.TOKEN: False}))


def test_the_cas_keys_are_token_objects_that_never_were_and_never_can_be_extracted(ca):
    for authority in CertificateAuthority.objects.all():
        assert authority.vault == "pkcs11" and authority.kek_id == "token"
        with hsm.device_get().session() as session:
            query = {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: authority.key_binding}
            (obj,) = session.get_objects(query)
            assert obj[Attribute.TOKEN] is True
            assert obj[Attribute.EXTRACTABLE] is False and obj[Attribute.NEVER_EXTRACTABLE] is True
            assert obj[Attribute.SENSITIVE] is True and obj[Attribute.ALWAYS_SENSITIVE] is True
            with pytest.raises(AttributeSensitive):
                obj[Attribute.VALUE if obj[Attribute.KEY_TYPE] == KeyType.EC else Attribute.PRIVATE_EXPONENT]
            probe = session.generate_key(KeyType.AES, 256, store=False)
            with pytest.raises(KeyUnextractable):
                probe.wrap_key(obj)
        with pytest.raises(KeyUnavailable):
            authority_private_key(authority).private_bytes(None, None, None)  # type: ignore[arg-type]


def test_a_holder_key_in_use_is_a_sensitive_session_object_that_cannot_be_exported_and_is_gone_after(world, ca):
    certificate = active(world.alpha.holder)
    before = len(_session_private_keys())

    key = certificate_key_unlock(certificate=certificate, pin=PIN)
    obj = key._obj  # noqa: SLF001  (the device object behind the handle)
    assert obj[Attribute.TOKEN] is False
    assert obj[Attribute.EXTRACTABLE] is False and obj[Attribute.SENSITIVE] is True
    assert obj[Attribute.SIGN] is True and obj[Attribute.DECRYPT] is False
    with pytest.raises(AttributeSensitive):
        obj[Attribute.VALUE]
    probe = obj.session.generate_key(KeyType.AES, 256, store=False)
    with pytest.raises(KeyUnextractable):
        probe.wrap_key(obj)
    signature = key.sign(b"exam record", ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(signature, b"exam record", ec.ECDSA(hashes.SHA256()))
    assert len(_session_private_keys()) == before + 1

    key_release(key)

    assert len(_session_private_keys()) == before
    with pytest.raises(KeyUnavailable):
        key.sign(b"again", ec.ECDSA(hashes.SHA256()))


def test_a_copy_of_the_database_with_every_secret_of_the_environment_and_even_the_pin_opens_no_key(world, ca):
    certificate = active(world.alpha.holder)
    row = CertificateKey.objects.get(certificate=certificate)
    sealed = sealed_from_row(row)
    environment_keys = [base64.b64decode(k) for k in settings.CA_KEK_KEYS.values()] + [
        hashlib.sha256(s.encode()).digest() for s in (settings.SECRET_KEY, settings.CA_PIN_PEPPER)
    ]
    pin_key = pin_key_derive(pin=PIN, salt=sealed.pin_salt, params=sealed.pin_kdf)

    # The outer layer is AES-GCM under a key that exists only in the device: no key of the
    # environment, nor the PIN's own key, opens it — not even with the right associated data.
    aad = hsm._aad(row.key_binding, sealed.key_version, sealed.wrapped_data_key[0],  # noqa: SLF001
                   hsm._sealed_public(sealed)[1])  # noqa: SLF001
    for candidate in [*environment_keys, pin_key]:
        with pytest.raises(Exception):  # noqa: B017, PT011  (InvalidTag or a wrong length: nothing opens)
            AESGCM(candidate).decrypt(sealed.key_nonce, sealed.key_ciphertext, aad)
        with pytest.raises(Exception):  # noqa: B017, PT011
            aes_key_unwrap_with_padding(candidate, sealed.key_ciphertext)
    # The PIN check value is a CMAC under a key derived inside the device: no offline PIN test either.
    assert len(sealed.wrapped_data_key) == 1 + 16
    # The software vault (which holds every environment secret) refuses the row outright.
    with pytest.raises(KeyUnavailable):
        SoftwareKeyVault().open_with_pin(sealed=sealed, binding=row.key_binding, pin=PIN)
    # The CA's rows hold a reference to a token object and nothing else.
    for authority in CertificateAuthority.objects.all():
        assert bytes(authority.key_ciphertext) == hsm._token_id(authority.key_binding)  # noqa: SLF001
        assert bytes(authority.wrapped_data_key) == b"" and bytes(authority.key_nonce) == b""


def test_threads_share_the_session_pool_safely(world, ca):
    """Gunicorn threads and the TSA sign with the CA's keys while holders' batches run: each
    signature gets a session of its own from the pool (a PKCS#11 session is not re-entrant)."""
    from concurrent.futures import ThreadPoolExecutor

    from cryptography import x509

    issuing = CertificateAuthority.objects.get(role="issuing", is_current=True)
    issuing_key = authority_private_key(issuing)
    issuing_public = x509.load_der_x509_certificate(bytes(issuing.der)).public_key()
    holder_keys = [certificate_key_unlock(certificate=active(h), pin=PIN) for h in world.alpha.holders[:2]]

    def ca_signs(i: int) -> None:
        message = f"ocsp answer {i}".encode()
        issuing_public.verify(issuing_key.sign(message, ec.ECDSA(hashes.SHA384())), message, ec.ECDSA(hashes.SHA384()))

    def holder_signs(key) -> int:  # noqa: ANN001  (one batch per holder: its key keeps its own session)
        for i in range(40):
            message = f"verbale {i}".encode()
            key.public_key().verify(key.sign(message, ec.ECDSA(hashes.SHA256())), message, ec.ECDSA(hashes.SHA256()))
        return 40

    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = [pool.submit(holder_signs, key) for key in holder_keys]
        list(pool.map(ca_signs, range(200)))
        assert [b.result() for b in batches] == [40, 40]
    for key in holder_keys:
        key_release(key)


def _manage(token: SoftToken, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ, "DJANGO_DEBUG": "true", "DJANGO_SETTINGS_MODULE": "config.settings",
        "CA_KEY_VAULT_BACKEND": "certificates.hsm.Pkcs11KeyVault", "SOFTHSM2_CONF": token.conf,
        "CA_HSM_MODULE": token.module, "CA_HSM_TOKEN_LABEL": token.label, "CA_HSM_PIN": token.pin, **env,
    }
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize(("setting", "value"), [
    ("CA_HSM_PIN", "not-the-pin"),
    ("CA_HSM_MODULE", "/usr/lib/no-such-module.so"),
    ("CA_HSM_TOKEN_LABEL", "no-such-token"),
])
def test_a_wrong_device_setting_stops_the_process_at_start_naming_the_setting(softhsm_token, setting, value):
    checked = _manage(softhsm_token, "manage.py", "check", **{setting: value})
    assert checked.returncode != 0
    assert setting in checked.stderr, checked.stderr[-2000:]

    served = _manage(softhsm_token, "-c", "import config.wsgi", **{setting: value})
    assert served.returncode != 0 and setting in served.stderr, served.stderr[-2000:]


def test_the_right_device_settings_pass_the_start_check(softhsm_token):
    checked = _manage(softhsm_token, "manage.py", "check")
    assert checked.returncode == 0, checked.stderr[-2000:]


def test_a_device_lacking_a_mechanism_the_vault_needs_is_refused_at_start(softhsm_token, monkeypatch):
    monkeypatch.setattr(hsm, "REQUIRED_MECHANISMS", (*hsm.REQUIRED_MECHANISMS, "SHA3_256_RSA_PKCS"))
    with pytest.raises(ImproperlyConfigured, match="SHA3_256_RSA_PKCS"):
        hsm.Device(module=softhsm_token.module, token_label=softhsm_token.label, pin=softhsm_token.pin)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # python-pkcs11, on dead sessions
def test_a_device_gone_while_running_is_a_clear_error_and_the_vault_comes_back_with_it(
    world, ca, device_outage,  # noqa: F811
):
    certificate = active(world.alpha.holder)
    start, end = device_outage

    start()
    with pytest.raises(VaultUnavailable):
        certificate_key_unlock(certificate=certificate, pin=PIN)
    with pytest.raises(VaultUnavailable):
        authority_private_key(CertificateAuthority.objects.get(role="issuing", is_current=True)).sign(
            b"x", ec.ECDSA(hashes.SHA256())
        )
    certificate.refresh_from_db()
    assert certificate.pin_failures == 0  # an outage is not a wrong PIN

    end()
    key = certificate_key_unlock(certificate=certificate, pin=PIN)
    assert key.sign(b"x", ec.ECDSA(hashes.SHA256()))
    key_release(key)
