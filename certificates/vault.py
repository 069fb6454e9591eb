"""Key custody: private keys under envelope encryption, behind one ``KeyVault`` interface.

The software vault (this module) keeps sealed keys in the database; the PKCS#11 backend
(``certificates/hsm.py``) generates and uses them inside an HSM. ``settings.CA_KEY_VAULT_BACKEND``
chooses; every row names the vault that sealed it.

Design of the software vault
----------------------------
::

    private key (PKCS#8 DER)
      └─ AES-256-GCM under a fresh random 32-byte data key (DEK)          → key_nonce, key_ciphertext
           AAD = "firma-remota/key|<binding>|<key_version>"

    DEK, KEK only ("awaiting PIN": CA keys always; holder keys between issuance and activation):
      wrapped_data_key = 0x01 ‖ nonce ‖ AES-256-GCM(KEK[kek_id], DEK, AAD=".../kek|<binding>|<version>")

    DEK, KEK and PIN (holder keys once the holder has chosen a PIN):
      pin_key = Argon2id(HMAC-SHA256(CA_PIN_PEPPER, PIN), salt = 16 random bytes per key,
                         cost from CA_PIN_KDF_COST, stored with the key in ``pin_kdf``)
      inner   = nonce₁ ‖ AES-256-GCM(pin_key, DEK, AAD=".../pin|<binding>|<version>")
      wrapped_data_key = 0x02 ‖ nonce₂ ‖ AES-256-GCM(KEK[kek_id], inner, AAD=".../kek+pin|<binding>|<version>")

*Both are needed.* The outer layer needs the KEK (a server secret from the environment, never in
the database); the inner layer needs the PIN (known to the holder only) and the pepper. A database
dump alone yields nothing and does not even allow guessing PINs offline. The inner GCM tag is what
tells a wrong PIN apart; a failing *outer* layer is tampering or a missing KEK, never a PIN error.

``<binding>`` names the row the key belongs to (``certificate:<id>``, ``authority:<serial>``): a
ciphertext copied onto another row does not decrypt there. ``key_version`` grows every time the
DEK is replaced (activation, PIN change): the private key is re-encrypted under a new DEK, so an
old wrapped DEK — the KEK-only one in particular — opens nothing that is still stored.

Rotation of the KEK (``manage.py ca_rotate_kek``) re-wraps only the outer layer, without the PIN:
rows remember ``kek_id`` and stay readable under their old id until rotated.

Limits, said plainly
--------------------
* **The "awaiting PIN" window.** At issuance the holder has no PIN yet, so the DEK is wrapped by
  the KEK only, for at most the activation deadline (120 days by default). Meanwhile whoever holds
  the KEK *and* the database could use the key; the services refuse to (only an *active*
  certificate is unlocked, and only with a PIN). Activation replaces the KEK-only wrap with a
  KEK+PIN wrap under a *new* DEK, but the private key itself is unchanged: a database backup taken
  during the window, together with the KEK, still opens it. Backups must be handled as key material.
  (Generating the key at activation instead would close the window; it would also move issuance
  of the certificate to activation — a product decision, not taken here.)
* **The server with its secrets is an oracle.** KEK + pepper + database allow an offline guess of
  the PIN at one Argon2id per guess. That is the limit of software custody; the HSM backend, where
  the PIN only means something together with a key inside the device, is the production answer for
  sole control (``certificates/hsm.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from certificates.models import CertificateKey

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_AAD_PREFIX = "firma-remota"
_KEK_ONLY = 0x01
_KEK_AND_PIN = 0x02
_NONCE = 12


class KeyUnavailable(Exception):
    """The key cannot be opened: unknown KEK id, destroyed or tampered row, wrong wrapping mode."""


class VaultUnavailable(Exception):
    """The vault cannot be reached now (an HSM removed, reset or logged out): an outage, answered
    503 and reported by the readiness check — never a wrong PIN, never a spent authorization."""


class WrongPin(Exception):
    """The PIN does not open the inner wrapping of the data key."""


@dataclass(frozen=True)
class SealedKey:
    """What a vault hands back and expects: everything a row stores about one private key."""

    vault: str
    key_version: int
    key_nonce: bytes
    key_ciphertext: bytes
    kek_id: str
    wrapped_data_key: bytes
    pin_salt: bytes = b""
    pin_kdf: dict[str, Any] = field(default_factory=dict)

    @property
    def awaiting_pin(self) -> bool:
        return self.wrapped_data_key[:1] == bytes([_KEK_ONLY])


# --- Rows <-> SealedKey ----------------------------------------------------------------------------

_ROW_FIELDS = ("vault", "key_version", "key_nonce", "key_ciphertext", "kek_id", "wrapped_data_key")
_PIN_FIELDS = ("pin_salt", "pin_kdf")


def sealed_from_row(row: Any) -> SealedKey:
    values = {name: getattr(row, name) for name in _ROW_FIELDS}
    for name in ("key_nonce", "key_ciphertext", "wrapped_data_key"):
        values[name] = bytes(values[name])  # PostgreSQL hands back memoryview
    if hasattr(row, "pin_salt"):
        values["pin_salt"] = bytes(row.pin_salt or b"")
        values["pin_kdf"] = dict(row.pin_kdf or {})
    return SealedKey(**values)


def sealed_to_row(row: Any, sealed: SealedKey) -> list[str]:
    """Copy ``sealed`` onto the model instance; returns the ``update_fields`` to save."""
    changed = list(_ROW_FIELDS)
    for name in _ROW_FIELDS:
        setattr(row, name, getattr(sealed, name))
    if hasattr(row, "pin_salt"):
        row.pin_salt = sealed.pin_salt
        row.pin_kdf = sealed.pin_kdf
        row.awaiting_pin = sealed.awaiting_pin
        changed += [*_PIN_FIELDS, "awaiting_pin"]
    return changed


# --- Layered primitives (the signing code uses these through SoftwareKeyVault) --------------------


def _aad(layer: str, binding: str, version: int) -> bytes:
    return f"{_AAD_PREFIX}/{layer}|{binding}|{version}".encode()


def _kek(kek_id: str) -> bytes:
    try:
        key = base64.b64decode(settings.CA_KEK_KEYS[kek_id])
    except KeyError as exc:
        raise KeyUnavailable(f"unknown KEK id {kek_id!r}") from exc
    if len(key) != 32:
        raise ImproperlyConfigured(f"CA KEK {kek_id!r} must be 32 bytes (base64)")
    return key


def pin_key_derive(*, pin: str, salt: bytes, params: dict[str, Any]) -> bytes:
    """The 32-byte key a PIN stands for. Argon2id over the peppered PIN (RFC 9106)."""
    if params.get("algorithm", "argon2id") != "argon2id":
        raise KeyUnavailable(f"unknown PIN KDF {params.get('algorithm')!r}")
    peppered = hmac.new(settings.CA_PIN_PEPPER.encode(), pin.encode(), hashlib.sha256).digest()
    return hash_secret_raw(
        secret=peppered,
        salt=salt,
        time_cost=int(params["time_cost"]),
        memory_cost=int(params["memory_cost"]),
        parallelism=int(params["parallelism"]),
        hash_len=32,
        type=Type.ID,
    )


def data_key_unwrap(*, sealed: SealedKey, binding: str, pin_key: bytes | None = None) -> bytes:
    """The DEK: outer (KEK) layer, then — for PIN-wrapped keys — the inner (PIN) layer."""
    blob = sealed.wrapped_data_key
    mode, nonce, body = blob[:1], blob[1 : 1 + _NONCE], blob[1 + _NONCE :]
    version = sealed.key_version
    if mode == bytes([_KEK_ONLY]):
        if pin_key is not None:
            raise KeyUnavailable("this key has no PIN yet")
        try:
            return AESGCM(_kek(sealed.kek_id)).decrypt(nonce, body, _aad("kek", binding, version))
        except InvalidTag as exc:
            raise KeyUnavailable("data key does not unwrap (wrong KEK or tampered row)") from exc
    if mode != bytes([_KEK_AND_PIN]):
        raise KeyUnavailable("unknown wrapping")
    if pin_key is None:
        raise KeyUnavailable("this key needs the holder's PIN")
    try:
        inner = AESGCM(_kek(sealed.kek_id)).decrypt(nonce, body, _aad("kek+pin", binding, version))
    except InvalidTag as exc:
        raise KeyUnavailable("data key does not unwrap (wrong KEK or tampered row)") from exc
    try:
        return AESGCM(pin_key).decrypt(inner[:_NONCE], inner[_NONCE:], _aad("pin", binding, version))
    except InvalidTag as exc:
        raise WrongPin from exc


def kek_layer_remove(*, sealed: SealedKey, binding: str) -> bytes:
    """The inner (PIN) layer of a KEK+PIN key, without the KEK layer: what a migration to another
    vault re-wraps under its own outer layer, so that the PIN does not change."""
    blob = sealed.wrapped_data_key
    if blob[:1] != bytes([_KEK_AND_PIN]):
        raise KeyUnavailable("not a PIN-wrapped key")
    try:
        return AESGCM(_kek(sealed.kek_id)).decrypt(
            blob[1 : 1 + _NONCE], blob[1 + _NONCE :], _aad("kek+pin", binding, sealed.key_version)
        )
    except InvalidTag as exc:
        raise KeyUnavailable("data key does not unwrap (wrong KEK or tampered row)") from exc


def kek_inner_open(*, sealed: SealedKey, binding: str, inner: bytes, pin: str) -> bytes:
    """The data key from an inner layer (:func:`kek_layer_remove`) and the PIN; raises :class:`WrongPin`."""
    pin_key = pin_key_derive(pin=pin, salt=sealed.pin_salt, params=sealed.pin_kdf)
    try:
        return AESGCM(pin_key).decrypt(inner[:_NONCE], inner[_NONCE:], _aad("pin", binding, sealed.key_version))
    except InvalidTag as exc:
        raise WrongPin from exc


def private_key_decrypt(*, sealed: SealedKey, binding: str, data_key: bytes) -> PrivateKey:
    """The private key object, in memory only."""
    try:
        aad = _aad("key", binding, sealed.key_version)
        der = AESGCM(data_key).decrypt(sealed.key_nonce, sealed.key_ciphertext, aad)
    except InvalidTag as exc:
        raise KeyUnavailable("private key does not decrypt (tampered row)") from exc
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyUnavailable("unexpected key type")
    return key


def _encrypt_private_key(private_key: PrivateKey, *, binding: str, version: int) -> tuple[bytes, bytes, bytes]:
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE)
    return data_key, nonce, AESGCM(data_key).encrypt(nonce, der, _aad("key", binding, version))


def _wrap_kek_only(data_key: bytes, *, kek_id: str, binding: str, version: int) -> bytes:
    nonce = os.urandom(_NONCE)
    return bytes([_KEK_ONLY]) + nonce + AESGCM(_kek(kek_id)).encrypt(nonce, data_key, _aad("kek", binding, version))


def _wrap_kek_and_pin(data_key: bytes, *, pin_key: bytes, kek_id: str, binding: str, version: int) -> bytes:
    nonce1 = os.urandom(_NONCE)
    inner = nonce1 + AESGCM(pin_key).encrypt(nonce1, data_key, _aad("pin", binding, version))
    nonce2 = os.urandom(_NONCE)
    outer = AESGCM(_kek(kek_id)).encrypt(nonce2, inner, _aad("kek+pin", binding, version))
    return bytes([_KEK_AND_PIN]) + nonce2 + outer


# Key algorithms whose signatures are RSASSA-PSS (MGF1 with the message digest, a salt as long as the
# digest): PKCS#1 v1.5 is sunset by ETSI TS 119 312 before certificates issued now expire. The key is
# a plain RSA key and its certificate names rsaEncryption (what every validator and pyHanko expect);
# the policy stored with the certificate (``Certificate.key_algorithm``) is what decides the padding.
PSS_KEY_ALGORITHMS = frozenset({"rsa-pss-3072"})


def key_signs_with_pss(algorithm: str) -> bool:
    """Whether a key of ``algorithm`` (a ``KeyAlgorithm`` value) signs with RSASSA-PSS."""
    return algorithm in PSS_KEY_ALGORITHMS


def key_generate(algorithm: str) -> PrivateKey:
    """A new key pair: ``ecdsa-p256``, ``rsa-pss-3072``, ``rsa-2048`` (legacy) for holders,
    ``ecdsa-p384`` for the CA."""
    if algorithm == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "rsa-pss-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    raise ValueError(f"unknown key algorithm {algorithm!r}")


# --- The interface --------------------------------------------------------------------------------


class KeyVault(ABC):
    """Where private keys are generated, kept and opened. Keys leave a vault only as objects in memory."""

    name: str

    @abstractmethod
    def generate(self, *, algorithm: str, binding: str) -> tuple[PrivateKey, SealedKey]:
        """A new key pair, and its sealed form wrapped by the KEK only (no PIN yet)."""

    @abstractmethod
    def seal(self, *, private_key: PrivateKey, binding: str) -> SealedKey:
        """Seal an existing key under the KEK only (CA keys)."""

    @abstractmethod
    def open(self, *, sealed: SealedKey, binding: str) -> PrivateKey:
        """Open a KEK-only key (CA keys). Refuses a PIN-protected key."""

    @abstractmethod
    def pin_set(self, *, sealed: SealedKey, binding: str, pin: str) -> SealedKey:
        """KEK-only → KEK+PIN under a new data key; the KEK-only wrapping is not returned."""

    @abstractmethod
    def open_with_pin(self, *, sealed: SealedKey, binding: str, pin: str) -> PrivateKey:
        """Open a KEK+PIN key; raises :class:`WrongPin`."""

    @abstractmethod
    def data_key_open_with_pin(self, *, sealed: SealedKey, binding: str, pin: str) -> bytes:
        """The data key alone (both layers removed), for a signature activation to re-wrap under a
        one-time key; raises :class:`WrongPin`."""

    @abstractmethod
    def open_with_data_key(self, *, sealed: SealedKey, binding: str, data_key: bytes) -> PrivateKey:
        """Open a key with its data key (as :meth:`data_key_open_with_pin` handed it out)."""

    @abstractmethod
    def pin_change(self, *, sealed: SealedKey, binding: str, current_pin: str, new_pin: str) -> SealedKey:
        """Re-wrap under a new PIN (and a new data key); raises :class:`WrongPin`."""

    @abstractmethod
    def kek_rewrap(self, *, sealed: SealedKey, binding: str) -> SealedKey:
        """The same key under the current KEK id, without any PIN."""

    # ``kek_id`` values of rows whose key nothing wraps (the PKCS#11 vault's token objects).
    unwrapped_kek_ids: tuple[str, ...] = ()

    @abstractmethod
    def current_kek_id(self) -> str:
        """The id of the key that new and re-wrapped rows are wrapped under."""

    def check(self) -> None:  # noqa: B027  (a vault in this process's memory is always there)
        """Raise :class:`VaultUnavailable` when the vault cannot serve keys now (the readiness check)."""

    def migrate_from_software(self, *, sealed: SealedKey, binding: str) -> SealedKey:
        """A software-vault holder key under this vault, its PIN unchanged (device vaults)."""
        raise KeyUnavailable(f"the {self.name} vault takes no keys from the software vault")

    def needs_reseal_with_pin(self, sealed: SealedKey) -> bool:
        """Whether the key waits for its holder's PIN to be re-sealed (a key migrated in)."""
        return False

    def reseal_with_pin(self, *, sealed: SealedKey, binding: str, pin: str) -> SealedKey:
        """The key re-sealed natively under the same PIN; raises :class:`WrongPin`."""
        raise KeyUnavailable("nothing to re-seal")


class SoftwareKeyVault(KeyVault):
    name = "software"

    def current_kek_id(self) -> str:
        return settings.CA_KEK_KEY_ID

    def generate(self, *, algorithm: str, binding: str) -> tuple[PrivateKey, SealedKey]:
        private_key = key_generate(algorithm)
        return private_key, self.seal(private_key=private_key, binding=binding)

    def seal(self, *, private_key: PrivateKey, binding: str, version: int = 1) -> SealedKey:
        kek_id = settings.CA_KEK_KEY_ID
        data_key, nonce, ciphertext = _encrypt_private_key(private_key, binding=binding, version=version)
        return SealedKey(
            vault=self.name,
            key_version=version,
            key_nonce=nonce,
            key_ciphertext=ciphertext,
            kek_id=kek_id,
            wrapped_data_key=_wrap_kek_only(data_key, kek_id=kek_id, binding=binding, version=version),
        )

    def open(self, *, sealed: SealedKey, binding: str) -> PrivateKey:
        data_key = data_key_unwrap(sealed=sealed, binding=binding)
        return private_key_decrypt(sealed=sealed, binding=binding, data_key=data_key)

    def _seal_with_pin(self, private_key: PrivateKey, *, binding: str, version: int, pin: str) -> SealedKey:
        kek_id = settings.CA_KEK_KEY_ID
        salt = os.urandom(16)
        params = {"algorithm": "argon2id", **settings.CA_PIN_KDF_COST}
        pin_key = pin_key_derive(pin=pin, salt=salt, params=params)
        data_key, nonce, ciphertext = _encrypt_private_key(private_key, binding=binding, version=version)
        return SealedKey(
            vault=self.name,
            key_version=version,
            key_nonce=nonce,
            key_ciphertext=ciphertext,
            kek_id=kek_id,
            wrapped_data_key=_wrap_kek_and_pin(
                data_key, pin_key=pin_key, kek_id=kek_id, binding=binding, version=version
            ),
            pin_salt=salt,
            pin_kdf=params,
        )

    def pin_set(self, *, sealed: SealedKey, binding: str, pin: str) -> SealedKey:
        if not sealed.awaiting_pin:
            raise KeyUnavailable("this key already has a PIN")
        private_key = self.open(sealed=sealed, binding=binding)
        return self._seal_with_pin(private_key, binding=binding, version=sealed.key_version + 1, pin=pin)

    def open_with_pin(self, *, sealed: SealedKey, binding: str, pin: str) -> PrivateKey:
        if sealed.awaiting_pin:
            raise KeyUnavailable("this key has no PIN yet")
        pin_key = pin_key_derive(pin=pin, salt=sealed.pin_salt, params=sealed.pin_kdf)
        data_key = data_key_unwrap(sealed=sealed, binding=binding, pin_key=pin_key)
        return private_key_decrypt(sealed=sealed, binding=binding, data_key=data_key)

    def data_key_open_with_pin(self, *, sealed: SealedKey, binding: str, pin: str) -> bytes:
        if sealed.awaiting_pin:
            raise KeyUnavailable("this key has no PIN yet")
        pin_key = pin_key_derive(pin=pin, salt=sealed.pin_salt, params=sealed.pin_kdf)
        return data_key_unwrap(sealed=sealed, binding=binding, pin_key=pin_key)

    def open_with_data_key(self, *, sealed: SealedKey, binding: str, data_key: bytes) -> PrivateKey:
        return private_key_decrypt(sealed=sealed, binding=binding, data_key=data_key)

    def pin_change(self, *, sealed: SealedKey, binding: str, current_pin: str, new_pin: str) -> SealedKey:
        private_key = self.open_with_pin(sealed=sealed, binding=binding, pin=current_pin)
        return self._seal_with_pin(private_key, binding=binding, version=sealed.key_version + 1, pin=new_pin)

    def kek_rewrap(self, *, sealed: SealedKey, binding: str) -> SealedKey:
        kek_id = settings.CA_KEK_KEY_ID
        blob = sealed.wrapped_data_key
        mode, nonce, body = blob[:1], blob[1 : 1 + _NONCE], blob[1 + _NONCE :]
        layer = "kek" if mode == bytes([_KEK_ONLY]) else "kek+pin"
        aad = _aad(layer, binding, sealed.key_version)
        try:
            inner = AESGCM(_kek(sealed.kek_id)).decrypt(nonce, body, aad)
        except InvalidTag as exc:
            raise KeyUnavailable("data key does not unwrap (wrong KEK or tampered row)") from exc
        new_nonce = os.urandom(_NONCE)
        rewrapped = mode + new_nonce + AESGCM(_kek(kek_id)).encrypt(new_nonce, inner, aad)
        return replace(sealed, kek_id=kek_id, wrapped_data_key=rewrapped)


def vault_startup_check() -> None:
    """Open the configured vault and check it, so that a process with a wrong module, token, PIN or
    a device lacking a mechanism stops at start with a message naming the setting — not at the
    first signature. Called by the WSGI application, each Celery worker process and ``check``."""
    try:
        vault_get().check()
    except (KeyUnavailable, VaultUnavailable) as exc:
        raise ImproperlyConfigured(f"CA_KEY_VAULT_BACKEND: the key vault is not usable: {exc}") from exc


def key_release(private_key: object) -> None:
    """Done with a key opened for a signature or a batch: a key held in a device is destroyed there
    now (a software key is dropped with its last reference)."""
    destroy = getattr(private_key, "destroy", None)
    if callable(destroy):
        destroy()


_STAND_INS: dict[tuple[str, int], PrivateKey] = {}


def _stand_in(private_key: PrivateKey) -> PrivateKey:
    """A throw-away key of the same kind and size, to let cryptography lay out what it signs."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return ec.generate_private_key(private_key.curve)
    size = private_key.key_size
    if ("rsa", size) not in _STAND_INS:
        _STAND_INS[("rsa", size)] = rsa.generate_private_key(public_exponent=65537, key_size=size)
    return _STAND_INS[("rsa", size)]


def builder_sign(builder: Any, private_key: PrivateKey, algorithm: hashes.HashAlgorithm) -> Any:
    """``builder.sign(private_key, algorithm)`` for a certificate or CRL builder, also when the key is
    held by a device: cryptography signs only with its own keys, so the structure is built with a
    stand-in key of the same kind (same signature algorithm identifier) and its to-be-signed part is
    then signed by ``private_key`` and put back together."""
    if not getattr(private_key, "held_by_device", False):
        return builder.sign(private_key, algorithm)
    from asn1crypto import crl as asn1_crl
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509

    draft = builder.sign(_stand_in(private_key), algorithm)
    # (ASN.1 type, its to-be-signed field, its signature field, the loader, the to-be-signed bytes)
    load: Callable[[bytes], Any]
    if isinstance(draft, x509.Certificate):
        kind, tbs_field, signature_field, load, tbs = (
            asn1_x509.Certificate, "tbs_certificate", "signature_value", x509.load_der_x509_certificate,
            draft.tbs_certificate_bytes,
        )
    else:
        kind, tbs_field, signature_field, load, tbs = (
            asn1_crl.CertificateList, "tbs_cert_list", "signature", x509.load_der_x509_crl, draft.tbs_certlist_bytes,
        )
    parsed = kind.load(draft.public_bytes(serialization.Encoding.DER))
    whole = kind({
        tbs_field: parsed[tbs_field], "signature_algorithm": parsed["signature_algorithm"],
        signature_field: _device_signature(private_key, tbs, algorithm),
    })
    return load(whole.dump())


def _device_signature(private_key: PrivateKey, data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.sign(data, ec.ECDSA(algorithm))
    return private_key.sign(data, padding.PKCS1v15(), algorithm)


def vault_get(name: str | None = None) -> KeyVault:
    """The configured vault (``settings.CA_KEY_VAULT_BACKEND``), or the one a row names."""
    vault: KeyVault = import_string(settings.CA_KEY_VAULT_BACKEND)()
    if name is not None and name != vault.name:
        raise KeyUnavailable(f"key is held by vault {name!r}, configured is {vault.name!r}")
    return vault


# --- A certificate's key, as the signature activation needs it ------------------------------------


@dataclass(frozen=True)
class CertificateSealedKey:
    """The live sealed key of one certificate and the binding its ciphertexts are bound to."""

    binding: str
    sealed: SealedKey

    @property
    def key_version(self) -> int:
        return self.sealed.key_version


def certificate_sealed_key(*, certificate: Any) -> CertificateSealedKey:
    """The certificate's key as stored now; :class:`KeyUnavailable` when it has none (destroyed)."""
    row = CertificateKey.objects.filter(certificate_id=certificate.pk, destroyed_at__isnull=True).first()
    if row is None:
        raise KeyUnavailable("the certificate has no key")
    return CertificateSealedKey(binding=row.key_binding, sealed=sealed_from_row(row))


def certificate_key_open_with_data_key(*, certificate: Any, key_version: int, data_key: bytes) -> PrivateKey:
    """The certificate's private key, opened with a data key handed out for ``key_version``.

    :class:`KeyUnavailable` when the key was replaced (a new PIN, a new version) or destroyed since.
    """
    held = certificate_sealed_key(certificate=certificate)
    if held.key_version != key_version:
        raise KeyUnavailable("key replaced since its data key was handed out")
    return vault_get(held.sealed.vault).open_with_data_key(sealed=held.sealed, binding=held.binding, data_key=data_key)
