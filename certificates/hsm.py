"""Key custody in a hardware security module, through PKCS#11 (``CA_KEY_VAULT_BACKEND =
"certificates.hsm.Pkcs11KeyVault"``).

Nothing here is specific to one device: SoftHSM2 in development and CI, a Thales Luna, Utimaco or
YubiHSM 2 in production is a change of ``CA_HSM_MODULE``, ``CA_HSM_TOKEN_LABEL`` and the token PIN.

What lives where
----------------
*In the device, as token objects (never extractable, always sensitive):*

* the CA's keys — root, issuing CA, OCSP responder, TSA — labelled with their binding
  (``authority:<serial>``); certificates, CRLs, OCSP answers and timestamps are signed inside;
* ``firma-wrap-<id>``, the AES-256 wrapping key of the holder keys' outer layer (``CA_HSM_WRAPPING_KEY_ID``
  names the current one; rotation adds a new id, ``manage.py ca_rotate_kek`` re-wraps);
* ``firma-pin``, the AES-256 key that turns a holder's PIN into the key that wraps their private key.

*In the database, per holder key (the ``SealedKey`` fields):*
::

    pin_key    = Argon2id(HMAC(pepper, PIN), salt, cost)            (no PIN yet: a fixed value per row)
    K          = AES-ECB-ENCRYPT-DATA(firma-pin, pin_key)           derived in the device, never leaves it
    blob       = C_WrapKey(CKM_AES_KEY_WRAP_PAD, K, private key)    the key, generated in the device
    key_ciphertext = C_Encrypt(CKM_AES_GCM, firma-wrap-<id>, blob, AAD = binding | version | mode)
    wrapped_data_key = mode ‖ CMAC(K, "pin-check" | binding | version)

To sign, the device decrypts the outer layer (the binding is its AAD: a blob copied onto another row
is refused), derives K from the PIN, checks the CMAC (a wrong PIN is told apart by value, whatever
error codes the device uses), and unwraps the private key as a **session object that is sensitive and
not extractable**; the signature is computed inside; the object is destroyed after the signature or
the batch. The clear private key never exists in this process.

What each party can do
~~~~~~~~~~~~~~~~~~~~~~
* **The database alone, or with every secret of the environment** (KEK, pepper, token PIN excluded or
  not): nothing — every layer needs a key that lives only in the device; not even a PIN guess can be
  checked offline (the check value is a CMAC under a key derived inside the device).
* **The device alone** (its token PIN): signs with the CA keys; holds no holder key at all.
* **The device and the database, without the PIN**: can test PINs, one Argon2id plus one device
  derivation per guess, *online* against the device — the device's access controls and audit are
  what stands between. The holder's retry counter (5 wrong PINs block the certificate) is the
  application's, not the device's.
* **Device, database and PIN**: the holder's key — which is why the PIN goes with an OTP.

Migrated keys (``manage.py ca_migrate_to_hsm``) keep the software vault's inner layers (PIN over a
data key, data key over the PKCS#8 key) under this outer layer (mode ``0x03``), so that no PIN
changes; the first time the holder uses their PIN the key is imported and re-sealed as above.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pkcs11
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pkcs11 import DEFAULT, GCMParams, KeyType, Mechanism, ObjectClass
from pkcs11 import Attribute as A
from pkcs11.exceptions import PKCS11Error
from pkcs11.util.ec import decode_ec_private_key, encode_named_curve_parameters
from pkcs11.util.rsa import decode_rsa_private_key

from certificates import vault as software
from certificates.vault import KeyUnavailable, KeyVault, PrivateKey, SealedKey, VaultUnavailable, WrongPin

logger = logging.getLogger(__name__)

_KEK_ONLY = 0x01  # the same mode bytes as the software vault: ``SealedKey.awaiting_pin`` reads them
_WITH_PIN = 0x02
_MIGRATED = 0x03  # software inner layers (PIN → data key → PKCS#8) under this vault's outer layer
TOKEN_KEK_ID = "token"  # ``kek_id`` of a key that is a token object (the CA's)
PIN_KEY_LABEL = "firma-pin"
_CHECK = 16



class DeviceUnavailable(VaultUnavailable):
    """The device cannot be reached (removed, reset, logged out): a service outage, not a key problem."""


# --- The device: module, token, login, a pool of sessions ----------------------------------------


_CURVES = {"ecdsa-p256": ("secp256r1", ec.SECP256R1), "ecdsa-p384": ("secp384r1", ec.SECP384R1)}
_RSA_BITS = {"rsa-2048": 2048, "rsa-pss-3072": 3072}
# What the vault needs of the device, checked once at start: a missing one is a clear error then,
# not at the first signature.
REQUIRED_MECHANISMS = (
    "AES_KEY_GEN", "AES_GCM", "AES_KEY_WRAP_PAD", "AES_ECB_ENCRYPT_DATA", "AES_CMAC",
    "RSA_PKCS_KEY_PAIR_GEN", "RSA_PKCS", "RSA_PKCS_PSS", "EC_KEY_PAIR_GEN", "ECDSA",
)


def _token_pin() -> str:
    pin = settings.CA_HSM_PIN
    if not pin:
        raise ImproperlyConfigured("CA_HSM_PIN (or CA_HSM_PIN_FILE) must be set for the PKCS#11 key vault")
    return pin


class Device:
    """One token, logged in once per process, with a pool of sessions safe to share between threads.

    A session is used by one thread at a time (PKCS#11 sessions are not re-entrant); objects created
    in a session stay with it, so a holder's unwrapped key keeps its session until it is destroyed.
    Calls into the library are serialized per process (``calls``): python-pkcs11 initializes it
    without OS locking (``C_Initialize(NULL)``), which tells a library such as SoftHSM2 that it will
    not be called from two threads at once. Concurrency comes from processes — gunicorn workers,
    Celery's prefork pool — each with its own sessions; the PDF work around a signature runs outside
    the lock.
    """

    def __init__(self, *, module: str, token_label: str, pin: str) -> None:
        if not module or not os.path.exists(module):
            raise ImproperlyConfigured(f"CA_HSM_MODULE: no PKCS#11 module at {module!r}")
        try:
            self._lib = pkcs11.lib(module)
            if _initialized_in.setdefault(module, os.getpid()) != os.getpid():
                # A forked child inherits the parent's initialized library, whose sessions and login
                # are not its own: PKCS#11 asks the child to initialize again.
                self._lib.reinitialize()
                _initialized_in[module] = os.getpid()
            self._token = self._lib.get_token(token_label=token_label)
        except (PKCS11Error, RuntimeError, OSError) as exc:
            raise ImproperlyConfigured(
                f"CA_HSM_TOKEN_LABEL: no token {token_label!r} in {module} ({type(exc).__name__})"
            ) from exc
        self._pin = pin
        self._started = False
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._lock = threading.Lock()
        self.calls = threading.RLock()
        self.label = token_label
        with self.session() as session:  # logs in: a wrong PIN stops the process here
            del session
        self._mechanisms_check()
        self._started = True

    def _open(self) -> Any:
        try:
            return self._token.open(user_pin=self._pin, rw=True)
        except pkcs11.exceptions.PinIncorrect as exc:
            if self._started:  # the PIN was changed under a running process: an outage, not a crash
                raise DeviceUnavailable(f"token {self.label!r} now refuses CA_HSM_PIN") from exc
            raise ImproperlyConfigured(f"CA_HSM_PIN: the token {self.label!r} refuses the PIN") from exc
        except pkcs11.exceptions.UserAlreadyLoggedIn:
            return self._token.open(rw=True)
        except PKCS11Error as exc:
            raise DeviceUnavailable(f"cannot open a session on token {self.label!r}: {type(exc).__name__}") from exc

    def acquire(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                return self._open()

    def release(self, session: Any, *, broken: bool = False) -> None:
        """Give a session back; a broken one is closed, and with it every idle one (after a device
        reset they are all dead): the next caller opens a fresh session and logs in again."""
        if not broken:
            self._idle.put(session)
            return
        dead = [session]
        while True:
            try:
                dead.append(self._idle.get_nowait())
            except queue.Empty:
                break
        for each in dead:
            try:
                each.close()
            except Exception as exc:  # noqa: BLE001  (a dead session may refuse to close; it is dropped either way)
                logger.info("a broken session did not close: %s", type(exc).__name__)

    @contextmanager
    def session(self) -> Iterator[Any]:
        with self.calls:
            session = self.acquire()
            broken = False
            try:
                yield session
            except PKCS11Error as exc:
                broken = _is_device_error(exc)
                if broken:
                    raise DeviceUnavailable(f"token {self.label!r}: {type(exc).__name__}") from exc
                raise
            finally:
                self.release(session, broken=broken)

    def _mechanisms_check(self) -> None:
        available = {m.name for m in self._token.slot.get_mechanisms() if hasattr(m, "name")}
        missing = [name for name in REQUIRED_MECHANISMS if name not in available]
        if missing:
            raise ImproperlyConfigured(
                f"CA_HSM_MODULE: token {self.label!r} lacks the mechanisms {', '.join(missing)}"
            )

    def check(self) -> None:
        """Raise :class:`DeviceUnavailable` unless the token answers and its keys are present."""
        with self.session() as session:
            _secret_key(session, PIN_KEY_LABEL)
            _secret_key(session, wrapping_key_label(settings.CA_HSM_WRAPPING_KEY_ID))


def _is_device_error(exc: Exception) -> bool:
    names = {"DeviceRemoved", "DeviceError", "DeviceMemory", "SessionClosed", "SessionHandleInvalid",
             "TokenNotPresent", "TokenNotRecognised", "UserNotLoggedIn", "ObjectHandleInvalid", "KeyHandleInvalid"}
    return type(exc).__name__ in names


_devices: dict[tuple[str, str], Device] = {}
_initialized_in: dict[str, int] = {}  # module path → the process that initialized it
_devices_lock = threading.Lock()


def device_get() -> Device:
    """The process's device for the configured module and token (opened once per process)."""
    key = (settings.CA_HSM_MODULE, settings.CA_HSM_TOKEN_LABEL)
    with _devices_lock:
        device = _devices.get(key)
        if device is None:
            device = Device(module=key[0], token_label=key[1], pin=_token_pin())
            _devices[key] = device
            with device.session() as session:
                device_keys_ensure(session)
        return device


def device_forget() -> None:
    """Drop the process's sessions (after a fork, or when a test swaps the token)."""
    with _devices_lock:
        _devices.clear()


# A forked child must not use its parent's sessions: it opens its own at first use.
os.register_at_fork(after_in_child=lambda: _devices.clear())


def wrapping_key_label(kek_id: str) -> str:
    return f"firma-wrap-{kek_id}"


_SECRET_TEMPLATE = {A.TOKEN: True, A.PRIVATE: True, A.SENSITIVE: True, A.EXTRACTABLE: False}


def device_keys_ensure(session: Any) -> None:
    """Create the PIN-binding key and the current wrapping key in the token if they are missing."""
    for label, template in (
        (PIN_KEY_LABEL, {A.DERIVE: True, A.ENCRYPT: False, A.DECRYPT: False, A.WRAP: False, A.UNWRAP: False,
                         A.SIGN: False, A.VERIFY: False}),
        (wrapping_key_label(settings.CA_HSM_WRAPPING_KEY_ID),
         {A.ENCRYPT: True, A.DECRYPT: True, A.WRAP: False, A.UNWRAP: False, A.SIGN: False, A.VERIFY: False,
          A.DERIVE: False}),
    ):
        if not list(session.get_objects({A.CLASS: ObjectClass.SECRET_KEY, A.LABEL: label})):
            session.generate_key(KeyType.AES, 256, label=label, store=True, template={**_SECRET_TEMPLATE, **template})
            logger.info("created %s in token %s", label, session.token.label)


def _secret_key(session: Any, label: str) -> Any:
    found = list(session.get_objects({A.CLASS: ObjectClass.SECRET_KEY, A.LABEL: label}))
    if len(found) != 1:
        raise KeyUnavailable(f"the token has no key {label!r}")
    return found[0]


# --- Keys that sign inside the device -------------------------------------------------------------

_DIGEST_INFO = {  # RFC 8017 §9.2 note 1: the DER prefix of DigestInfo for CKM_RSA_PKCS
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
_PSS_HASH = {"sha256": ("SHA256", "SHA256"), "sha384": ("SHA384", "SHA384"), "sha512": ("SHA512", "SHA512")}


def _digest(data: bytes, algorithm: Any) -> tuple[bytes, str]:
    """The digest the device signs and its name: hashing is public work, done here."""
    if isinstance(algorithm, utils.Prehashed):
        return data, algorithm._algorithm.name  # noqa: SLF001  (cryptography keeps the wrapped hash there)
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize(), algorithm.name


class _DeviceKey:
    """A private key held by the device: a token object (the CA's) found by id, or a session object
    (a holder's, unwrapped for one signature or one batch) that :meth:`destroy` removes."""

    held_by_device = True  # what ``certificates.vault.builder_sign`` looks for

    def __init__(self, *, device: Device, public_key: Any, token_id: bytes | None = None,
                 session: Any = None, obj: Any = None) -> None:
        self._device = device
        self._public = public_key
        self._token_id = token_id
        self._session = session
        self._obj = obj

    @contextmanager
    def _object(self) -> Iterator[Any]:
        if self._token_id is not None:
            with self._device.session() as session:
                found = list(session.get_objects({A.CLASS: ObjectClass.PRIVATE_KEY, A.ID: self._token_id}))
                if len(found) != 1:
                    raise KeyUnavailable("the token has no such key")
                yield found[0]
            return
        with self._device.calls:
            if self._obj is None:
                raise KeyUnavailable("this key was destroyed after use")
            try:
                yield self._obj
            except PKCS11Error as exc:
                if _is_device_error(exc):
                    raise DeviceUnavailable(f"token {self._device.label!r}: {type(exc).__name__}") from exc
                raise

    def _mechanism_sign(self, mechanism: Any, data: bytes, param: Any = None) -> bytes:
        with self._object() as obj:
            return bytes(obj.sign(data, mechanism=mechanism, mechanism_param=param))

    def destroy(self) -> None:
        """Remove the session object from the device and give the session back (idempotent)."""
        with self._device.calls:
            obj, session, self._obj, self._session = self._obj, self._session, None, None
            if session is None:
                return
            broken = False
            try:
                if obj is not None:
                    obj.destroy()
            except PKCS11Error as exc:
                broken = True  # a session object dies with its session: closing it is the fallback
                logger.warning("session key not destroyed (%s): closing its session", type(exc).__name__)
            self._device.release(session, broken=broken)

    def __del__(self) -> None:
        try:
            self.destroy()
        except Exception:  # noqa: BLE001, S110  (at interpreter shutdown there is nothing left to tell)
            pass

    def public_key(self) -> Any:
        if self._public is None:
            raise KeyUnavailable("public key not known for this device key")
        return self._public

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise KeyUnavailable("a key held by the HSM cannot be exported")

    def private_numbers(self) -> Any:
        raise KeyUnavailable("a key held by the HSM cannot be exported")

    def __copy__(self) -> Any:
        return self


class DeviceRsaKey(_DeviceKey, rsa.RSAPrivateKey):
    """An RSA key in the device, usable wherever cryptography's RSA key is signed with."""

    def __init__(self, *, key_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key_size = key_size

    @property
    def key_size(self) -> int:
        return self._key_size

    def sign(self, data: bytes, padding_: Any, algorithm: Any) -> bytes:
        digest, name = _digest(data, algorithm)
        if isinstance(padding_, padding.PKCS1v15):
            return self._mechanism_sign(Mechanism.RSA_PKCS, _DIGEST_INFO[name] + digest)
        if isinstance(padding_, padding.PSS):
            salt = padding_._salt_length  # noqa: SLF001  (cryptography has no public accessor)
            if isinstance(salt, padding._DigestLength):  # noqa: SLF001
                salt = len(digest)
            elif isinstance(salt, padding._MaxLength):  # noqa: SLF001
                salt = self._key_size // 8 - len(digest) - 2
            if not isinstance(salt, int):
                raise ValueError("PSS salt length must be explicit for the HSM")
            hash_name, mgf_name = _PSS_HASH[name]
            param = (getattr(Mechanism, hash_name), getattr(pkcs11.MGF, mgf_name), salt)
            return self._mechanism_sign(Mechanism.RSA_PKCS_PSS, digest, param)
        raise ValueError(f"unsupported RSA padding {padding_!r}")

    def decrypt(self, ciphertext: bytes, padding_: Any) -> bytes:
        raise KeyUnavailable("signing keys do not decrypt")


class DeviceEcKey(_DeviceKey, ec.EllipticCurvePrivateKey):
    """An EC key in the device; ECDSA signatures come back DER-encoded, as cryptography's do."""

    def __init__(self, *, curve: ec.EllipticCurve, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._curve = curve

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._curve

    @property
    def key_size(self) -> int:
        return self._curve.key_size

    def sign(self, data: bytes, signature_algorithm: Any) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise ValueError("only ECDSA")
        digest, _name = _digest(data, signature_algorithm.algorithm)
        raw = self._mechanism_sign(Mechanism.ECDSA, digest)
        half = len(raw) // 2
        return utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    def exchange(self, algorithm: Any, peer_public_key: Any) -> bytes:
        raise KeyUnavailable("signing keys do not agree keys")


# --- Building keys in the device ------------------------------------------------------------------

_PRIVATE_USE = {  # what a private key may do: sign, nothing else
    A.SIGN: True, A.DECRYPT: False, A.SENSITIVE: True, A.PRIVATE: True,
    A.ENCRYPT: DEFAULT, A.VERIFY: DEFAULT, A.WRAP: DEFAULT, A.UNWRAP: DEFAULT, A.DERIVE: DEFAULT,
}


def _public_of(algorithm: str, public_obj: Any) -> Any:
    if algorithm in _RSA_BITS:
        modulus = int.from_bytes(public_obj[A.MODULUS], "big")
        exponent = int.from_bytes(public_obj[A.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    from asn1crypto.core import OctetString

    point = OctetString.load(bytes(public_obj[A.EC_POINT])).native
    return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[algorithm][1](), point)


def _keypair_generate(session: Any, algorithm: str, *, store: bool, label: str | None, token_id: bytes | None,
                      extractable: bool) -> tuple[Any, Any]:
    private_template = {**_PRIVATE_USE, A.EXTRACTABLE: extractable, A.TOKEN: store}
    if label is not None:
        private_template[A.LABEL] = label
    if token_id is not None:
        private_template[A.ID] = token_id
    public_template = {A.TOKEN: False, A.VERIFY: True, A.ENCRYPT: DEFAULT, A.WRAP: DEFAULT, A.DERIVE: DEFAULT}
    if algorithm in _RSA_BITS:
        return session.generate_keypair(KeyType.RSA, _RSA_BITS[algorithm], store=False,
                                        public_template=public_template, private_template=private_template)
    if algorithm in _CURVES:
        params = session.create_domain_parameters(
            KeyType.EC, {A.EC_PARAMS: encode_named_curve_parameters(_CURVES[algorithm][0])}, local=True
        )
        return params.generate_keypair(store=False, public_template=public_template, private_template=private_template)
    raise ValueError(f"unknown key algorithm {algorithm!r}")


def _handle(device: Device, *, public_key: Any, **kwargs: Any) -> PrivateKey:
    if isinstance(public_key, rsa.RSAPublicKey):
        return DeviceRsaKey(device=device, public_key=public_key, key_size=public_key.key_size, **kwargs)
    return DeviceEcKey(device=device, public_key=public_key, curve=public_key.curve, **kwargs)


def _import_template(private_key: PrivateKey) -> dict[Any, Any]:
    """The attributes that create ``private_key`` in the device: sensitive, never for decryption."""
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    if isinstance(private_key, rsa.RSAPrivateKey):
        template = decode_rsa_private_key(der)
    else:
        template = decode_ec_private_key(der)
    kept = {k: v for k, v in template.items() if k not in (A.EXTRACTABLE, A.SENSITIVE, A.TOKEN)}
    return {**kept, A.SENSITIVE: True, A.PRIVATE: True, A.DECRYPT: False}


def _token_id(binding: str) -> bytes:
    return hashlib.sha256(binding.encode()).digest()[:20]


def _aad(binding: str, version: int, mode: int, spki: bytes = b"") -> bytes:
    return f"firma-remota/hsm|{binding}|{version}|{mode}|".encode() + hashlib.sha256(spki).digest()


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _sealed_public(sealed: SealedKey) -> tuple[Any, bytes]:
    """The public key a holder key was sealed with (authenticated by the outer layer's AAD)."""
    try:
        spki = base64.b64decode(sealed.pin_kdf["public_key"])
        return serialization.load_der_public_key(spki), spki
    except (KeyError, ValueError) as exc:
        raise KeyUnavailable("the row has no public key") from exc


def _no_pin_key(binding: str) -> bytes:
    return hashlib.sha256(f"firma-remota/hsm-no-pin|{binding}".encode()).digest()


def _pin_key(pin: str, salt: bytes, params: dict[str, Any]) -> bytes:
    """Argon2id of the peppered PIN: the software vault's KDF (what the device derives K from)."""
    return software.pin_key_derive(pin=pin, salt=salt, params=params)


def _derived(session: Any, pin_key: bytes) -> Any:
    """K: the key a PIN stands for inside the device (AES-ECB of the pin key under ``firma-pin``)."""
    base = _secret_key(session, PIN_KEY_LABEL)
    return base.derive_key(
        KeyType.AES, 256, mechanism=Mechanism.AES_ECB_ENCRYPT_DATA, mechanism_param=pin_key,
        template={A.TOKEN: False, A.SENSITIVE: True, A.EXTRACTABLE: False, A.WRAP: True, A.UNWRAP: True,
                  A.SIGN: True, A.VERIFY: True, A.ENCRYPT: False, A.DECRYPT: False, A.DERIVE: False},
    )


def _check_value(k: Any, binding: str, version: int) -> bytes:
    message = f"firma-remota/hsm-pin-check|{binding}|{version}".encode()
    return bytes(k.sign(message, mechanism=Mechanism.AES_CMAC))[:_CHECK]


class Pkcs11KeyVault(KeyVault):
    """Keys generated and used inside a PKCS#11 device; see the module's docstring for the design."""

    name = "pkcs11"
    unwrapped_kek_ids = (TOKEN_KEK_ID,)

    def __init__(self) -> None:
        self.device = device_get()

    def current_kek_id(self) -> str:
        return settings.CA_HSM_WRAPPING_KEY_ID

    # -- CA keys: token objects --------------------------------------------------------------------

    def _token_handle(self, sealed: SealedKey, binding: str, public_key: Any = None) -> PrivateKey:
        token_id = bytes(sealed.key_ciphertext)
        if sealed.kek_id != TOKEN_KEK_ID or not hmac.compare_digest(token_id, _token_id(binding)):
            raise KeyUnavailable("this row names no token key of its own")
        with self.device.session() as session:
            found = list(session.get_objects({A.CLASS: ObjectClass.PRIVATE_KEY, A.ID: token_id, A.LABEL: binding}))
            if len(found) != 1:
                raise KeyUnavailable(f"the token has no key for {binding}")
            if public_key is None:
                public_key = self._token_public(session, token_id)
        return _handle(self.device, public_key=public_key, token_id=token_id)

    def _token_public(self, session: Any, token_id: bytes) -> Any:
        found = list(session.get_objects({A.CLASS: ObjectClass.PUBLIC_KEY, A.ID: token_id}))
        if len(found) != 1:
            return None
        obj = found[0]
        key_type = obj[A.KEY_TYPE]
        if key_type == KeyType.RSA:
            return _public_of("rsa-2048", obj)
        curves = {encode_named_curve_parameters(name): alg for alg, (name, _c) in _CURVES.items()}
        return _public_of(curves[bytes(obj[A.EC_PARAMS])], obj)

    def authority_generate(self, *, algorithm: str, binding: str) -> tuple[PrivateKey, SealedKey]:
        token_id = _token_id(binding)
        with self.device.session() as session:
            public_obj, _private = _keypair_generate(session, algorithm, store=True, label=binding,
                                                     token_id=token_id, extractable=False)
            public_key = _public_of(algorithm, public_obj)
            # The public half is kept beside it (same id), so a key found later knows its public key.
            self._public_store(session, public_key, binding, token_id)
        return _handle(self.device, public_key=public_key, token_id=token_id), self._token_sealed(token_id)

    def _public_store(self, session: Any, public_key: Any, binding: str, token_id: bytes) -> None:
        template: dict[Any, Any] = {A.CLASS: ObjectClass.PUBLIC_KEY, A.TOKEN: True, A.LABEL: binding, A.ID: token_id,
                                    A.VERIFY: True}
        if isinstance(public_key, rsa.RSAPublicKey):
            numbers = public_key.public_numbers()
            modulus = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
            exponent = numbers.e.to_bytes(3, "big")
            template.update({A.KEY_TYPE: KeyType.RSA, A.MODULUS: modulus, A.PUBLIC_EXPONENT: exponent})
        else:
            from asn1crypto.core import OctetString

            point = public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
            name = {"secp256r1": "secp256r1", "secp384r1": "secp384r1"}[public_key.curve.name]
            template.update({A.KEY_TYPE: KeyType.EC, A.EC_PARAMS: encode_named_curve_parameters(name),
                             A.EC_POINT: OctetString(point).dump()})
        session.create_object(template)

    def _token_sealed(self, token_id: bytes) -> SealedKey:
        return SealedKey(vault=self.name, key_version=1, key_nonce=b"", key_ciphertext=token_id,
                         kek_id=TOKEN_KEK_ID, wrapped_data_key=b"")

    def authority_import(self, *, private_key: PrivateKey, binding: str) -> SealedKey:
        """A software CA key made a token object (non-extractable) once; the caller erases its copy."""
        token_id = _token_id(binding)
        template = _import_template(private_key)
        template.update({A.TOKEN: True, A.LABEL: binding, A.ID: token_id, A.EXTRACTABLE: False, A.SIGN: True})
        with self.device.session() as session:
            for old in session.get_objects({A.ID: token_id}):
                old.destroy()  # a rerun after an interrupted import starts clean
            session.create_object(template)
            self._public_store(session, private_key.public_key(), binding, token_id)
        del template
        return self._token_sealed(token_id)

    # -- Holder keys: wrapped outside the device -------------------------------------------------

    def _seal_object(self, session: Any, private_obj: Any, *, binding: str, version: int, mode: int,
                     pin_key: bytes, public_key: Any, salt: bytes = b"",
                     params: dict[str, Any] | None = None) -> SealedKey:
        """``private_obj`` wrapped under K, then under the wrapping key with the row (and the public
        key, kept beside it: an EC private key in a device does not give its public half) as AAD."""
        spki = _spki(public_key)
        k = _derived(session, pin_key)
        try:
            blob = bytes(k.wrap_key(private_obj, mechanism=Mechanism.AES_KEY_WRAP_PAD))
            check = _check_value(k, binding, version)
        finally:
            k.destroy()
        kek_id = settings.CA_HSM_WRAPPING_KEY_ID
        nonce, outer = self._outer_encrypt(session, blob, kek_id=kek_id, aad=_aad(binding, version, mode, spki))
        kdf = {**(params or {}), "public_key": base64.b64encode(spki).decode()}
        return SealedKey(vault=self.name, key_version=version, key_nonce=nonce, key_ciphertext=outer, kek_id=kek_id,
                         wrapped_data_key=bytes([mode]) + check, pin_salt=salt, pin_kdf=kdf)

    def _outer_encrypt(self, session: Any, data: bytes, *, kek_id: str, aad: bytes) -> tuple[bytes, bytes]:
        nonce = os.urandom(12)
        if kek_id == settings.CA_HSM_WRAPPING_KEY_ID:
            device_keys_ensure(session)  # a new id is a new key in the device, made at its first use
        key = _secret_key(session, wrapping_key_label(kek_id))
        return nonce, bytes(key.encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad, 128)))

    def _outer_decrypt(self, session: Any, sealed: SealedKey, binding: str, *, data: bytes | None = None) -> bytes:
        mode = sealed.wrapped_data_key[0]
        spki = b"" if mode == _MIGRATED else _sealed_public(sealed)[1]
        key = _secret_key(session, wrapping_key_label(sealed.kek_id))
        aad = _aad(binding, sealed.key_version, mode, spki)
        try:
            return bytes(key.decrypt(sealed.key_ciphertext if data is None else data, mechanism=Mechanism.AES_GCM,
                                     mechanism_param=GCMParams(sealed.key_nonce, aad, 128)))
        except PKCS11Error as exc:
            if _is_device_error(exc):
                raise
            raise KeyUnavailable("the outer layer does not open: another row's key, or tampered") from exc

    def _unwrapped(self, session: Any, sealed: SealedKey, binding: str, pin_key: bytes, *,
                   extractable: bool = False) -> Any:
        """The private key as a session object (sensitive; not extractable unless re-sealing)."""
        if sealed.kek_id == TOKEN_KEK_ID or sealed.wrapped_data_key[:1] not in (bytes([_KEK_ONLY]), bytes([_WITH_PIN])):
            raise KeyUnavailable("not a wrapped holder key")
        blob = self._outer_decrypt(session, sealed, binding)
        k = _derived(session, pin_key)
        try:
            if not hmac.compare_digest(_check_value(k, binding, sealed.key_version), sealed.wrapped_data_key[1:]):
                raise WrongPin
            template = {**_PRIVATE_USE, A.EXTRACTABLE: extractable, A.TOKEN: False}
            if extractable:
                template[A.SIGN] = False  # a key unwrapped to be re-sealed is not a key that signs
            key_type = KeyType.RSA if isinstance(_sealed_public(sealed)[0], rsa.RSAPublicKey) else KeyType.EC
            try:
                return k.unwrap_key(ObjectClass.PRIVATE_KEY, key_type, blob, mechanism=Mechanism.AES_KEY_WRAP_PAD,
                                    template=template)
            except PKCS11Error as exc:
                if _is_device_error(exc):
                    raise
                raise KeyUnavailable("the wrapped key does not unwrap") from exc
        finally:
            k.destroy()

    def _usable(self, session: Any, obj: Any, public_key: Any = None) -> PrivateKey:
        """A signing handle that owns ``session`` until destroyed."""
        if obj[A.KEY_TYPE] == KeyType.RSA:
            modulus = int.from_bytes(obj[A.MODULUS], "big")
            exponent = int.from_bytes(obj[A.PUBLIC_EXPONENT], "big")
            public_key = public_key or rsa.RSAPublicNumbers(exponent, modulus).public_key()
            return DeviceRsaKey(device=self.device, public_key=public_key, key_size=modulus.bit_length(),
                                session=session, obj=obj)
        curve = {encode_named_curve_parameters(name): cls for name, cls in _CURVES.values()}[bytes(obj[A.EC_PARAMS])]()
        return DeviceEcKey(device=self.device, public_key=public_key, curve=curve, session=session, obj=obj)

    def _open_session_key(self, sealed: SealedKey, binding: str, pin_key: bytes) -> PrivateKey:
        with self.device.calls:
            session = self.device.acquire()
            try:
                obj = self._unwrapped(session, sealed, binding, pin_key)
                return self._usable(session, obj, _sealed_public(sealed)[0])
            except BaseException as exc:
                self.device.release(session, broken=isinstance(exc, PKCS11Error) and _is_device_error(exc))
                if isinstance(exc, PKCS11Error) and _is_device_error(exc):
                    raise DeviceUnavailable(f"token {self.device.label!r}: {type(exc).__name__}") from exc
                raise

    # -- The KeyVault interface -------------------------------------------------------------------

    def generate(self, *, algorithm: str, binding: str) -> tuple[PrivateKey, SealedKey]:
        """Holder keys: generated in the device, sealed awaiting the PIN; the returned key only knows
        its public half (the private object is destroyed once wrapped). CA keys: :meth:`authority_generate`."""
        if binding.startswith("authority:"):
            return self.authority_generate(algorithm=algorithm, binding=binding)
        with self.device.session() as session:
            public_obj, private_obj = _keypair_generate(session, algorithm, store=False, label=None, token_id=None,
                                                        extractable=True)
            try:
                public_key = _public_of(algorithm, public_obj)
                sealed = self._seal_object(session, private_obj, binding=binding, version=1, mode=_KEK_ONLY,
                                           pin_key=_no_pin_key(binding), public_key=public_key)
            finally:
                private_obj.destroy()
                public_obj.destroy()
        return _handle(self.device, public_key=public_key), sealed

    def seal(self, *, private_key: PrivateKey, binding: str) -> SealedKey:
        return self.authority_import(private_key=private_key, binding=binding)

    def open(self, *, sealed: SealedKey, binding: str) -> PrivateKey:
        if sealed.kek_id == TOKEN_KEK_ID:
            return self._token_handle(sealed, binding)
        if not sealed.awaiting_pin:
            raise KeyUnavailable("this key needs the holder's PIN")
        return self._open_session_key(sealed, binding, _no_pin_key(binding))

    def _pin_key_for(self, sealed: SealedKey, pin: str) -> bytes:
        if sealed.awaiting_pin:
            raise KeyUnavailable("this key has no PIN yet")
        return _pin_key(pin, sealed.pin_salt, sealed.pin_kdf)

    def _reseal(self, sealed: SealedKey, binding: str, *, old_pin_key: bytes, new_pin: str) -> SealedKey:
        salt = os.urandom(16)
        params = {"algorithm": "argon2id", **settings.CA_PIN_KDF_COST}
        new_pin_key = _pin_key(new_pin, salt, params)
        with self.device.session() as session:
            obj = self._unwrapped(session, sealed, binding, old_pin_key, extractable=True)
            try:
                return self._seal_object(session, obj, binding=binding, version=sealed.key_version + 1,
                                         mode=_WITH_PIN, pin_key=new_pin_key, salt=salt, params=params,
                                         public_key=_sealed_public(sealed)[0])
            finally:
                obj.destroy()

    def pin_set(self, *, sealed: SealedKey, binding: str, pin: str) -> SealedKey:
        if not sealed.awaiting_pin:
            raise KeyUnavailable("this key already has a PIN")
        if sealed.wrapped_data_key[:1] == bytes([_MIGRATED]):
            raise KeyUnavailable("a migrated key already has a PIN")
        return self._reseal(sealed, binding, old_pin_key=_no_pin_key(binding), new_pin=pin)

    def open_with_pin(self, *, sealed: SealedKey, binding: str, pin: str) -> PrivateKey:
        return self.open_with_data_key(sealed=sealed, binding=binding,
                                       data_key=self.data_key_open_with_pin(sealed=sealed, binding=binding, pin=pin))

    def data_key_open_with_pin(self, *, sealed: SealedKey, binding: str, pin: str) -> bytes:
        """The PIN key (Argon2id of the PIN), checked against the row: worthless without the device."""
        if sealed.wrapped_data_key[:1] == bytes([_MIGRATED]):
            raise KeyUnavailable("a migrated key is re-sealed at its first use with the PIN")
        pin_key = self._pin_key_for(sealed, pin)
        with self.device.session() as session:
            k = _derived(session, pin_key)
            try:
                if not hmac.compare_digest(_check_value(k, binding, sealed.key_version), sealed.wrapped_data_key[1:]):
                    raise WrongPin
            finally:
                k.destroy()
        return pin_key

    def open_with_data_key(self, *, sealed: SealedKey, binding: str, data_key: bytes) -> PrivateKey:
        if sealed.wrapped_data_key[:1] == bytes([_MIGRATED]):
            raise KeyUnavailable("a migrated key is re-sealed at its first use with the PIN")
        return self._open_session_key(sealed, binding, data_key)

    def pin_change(self, *, sealed: SealedKey, binding: str, current_pin: str, new_pin: str) -> SealedKey:
        if sealed.wrapped_data_key[:1] == bytes([_MIGRATED]):
            sealed = self.migrated_reseal(sealed=sealed, binding=binding, pin=current_pin)
        return self._reseal(sealed, binding, old_pin_key=self._pin_key_for(sealed, current_pin), new_pin=new_pin)

    def kek_rewrap(self, *, sealed: SealedKey, binding: str) -> SealedKey:
        """The outer layer under the current wrapping key (``CA_HSM_WRAPPING_KEY_ID``), without any PIN."""
        if sealed.kek_id == TOKEN_KEK_ID:
            return sealed
        kek_id = settings.CA_HSM_WRAPPING_KEY_ID
        mode = sealed.wrapped_data_key[0]
        with self.device.session() as session:
            device_keys_ensure(session)
            if mode == _MIGRATED:
                inner = self._migrated_outer_open(session, sealed, binding)
                nonce, outer = self._outer_encrypt(session, inner, kek_id=kek_id,
                                                   aad=_aad(binding, sealed.key_version, mode))
                return replace(sealed, kek_id=kek_id, wrapped_data_key=bytes([mode]) + nonce + outer)
            blob = self._outer_decrypt(session, sealed, binding)
            aad = _aad(binding, sealed.key_version, mode, _sealed_public(sealed)[1])
            nonce, outer = self._outer_encrypt(session, blob, kek_id=kek_id, aad=aad)
        return replace(sealed, kek_id=kek_id, key_nonce=nonce, key_ciphertext=outer)

    def check(self) -> None:
        self.device.check()

    # -- Keys migrated from the software vault ----------------------------------------------------

    def migrate_from_software(self, *, sealed: SealedKey, binding: str) -> SealedKey:
        """A software-vault holder key under this vault, without its PIN changing.

        Awaiting its PIN: opened with the software KEK, imported and sealed natively. With a PIN: the
        software KEK layer is replaced by this vault's outer layer (mode 0x03); the software KEK no
        longer opens it, and the first use with the PIN re-seals it natively.
        """
        if sealed.vault != software.SoftwareKeyVault.name:
            raise KeyUnavailable(f"not a software-vault key: {sealed.vault}")
        if sealed.awaiting_pin:
            private_key = software.SoftwareKeyVault().open(sealed=sealed, binding=binding)
            with self.device.session() as session:
                obj = self._import_session(session, private_key, extractable=True)
                try:
                    return self._seal_object(session, obj, binding=binding, version=sealed.key_version + 1,
                                             mode=_KEK_ONLY, pin_key=_no_pin_key(binding),
                                             public_key=private_key.public_key())
                finally:
                    obj.destroy()
        inner = software.kek_layer_remove(sealed=sealed, binding=binding)
        kek_id = settings.CA_HSM_WRAPPING_KEY_ID
        with self.device.session() as session:
            nonce, outer = self._outer_encrypt(session, inner, kek_id=kek_id,
                                               aad=_aad(binding, sealed.key_version, _MIGRATED))
        return replace(sealed, vault=self.name, kek_id=kek_id, wrapped_data_key=bytes([_MIGRATED]) + nonce + outer)

    def _import_session(self, session: Any, private_key: PrivateKey, *, extractable: bool) -> Any:
        """A software key as a session object: extractable (to be wrapped) keys may not sign."""
        template = _import_template(private_key)
        template.update({A.TOKEN: False, A.EXTRACTABLE: extractable, A.SIGN: not extractable})
        return session.create_object(template)

    def _migrated_outer_open(self, session: Any, sealed: SealedKey, binding: str) -> bytes:
        """The software vault's inner layer (PIN over the data key) of a migrated key."""
        blob = sealed.wrapped_data_key
        return self._outer_decrypt(session, replace(sealed, key_nonce=blob[1:13]), binding, data=blob[13:])

    def needs_reseal_with_pin(self, sealed: SealedKey) -> bool:
        return self.is_migrated(sealed)

    def reseal_with_pin(self, *, sealed: SealedKey, binding: str, pin: str) -> SealedKey:
        return self.migrated_reseal(sealed=sealed, binding=binding, pin=pin)

    def migrated_reseal(self, *, sealed: SealedKey, binding: str, pin: str) -> SealedKey:
        """A migrated key imported into the device and sealed natively under the same PIN."""
        with self.device.session() as session:
            inner = self._migrated_outer_open(session, sealed, binding)
        data_key = software.kek_inner_open(sealed=sealed, binding=binding, inner=inner, pin=pin)
        private_key = software.private_key_decrypt(sealed=sealed, binding=binding, data_key=data_key)
        salt = os.urandom(16)
        params = {"algorithm": "argon2id", **settings.CA_PIN_KDF_COST}
        with self.device.session() as session:
            obj = self._import_session(session, private_key, extractable=True)
            try:
                return self._seal_object(session, obj, binding=binding, version=sealed.key_version + 1,
                                         mode=_WITH_PIN, pin_key=_pin_key(pin, salt, params), salt=salt, params=params,
                                         public_key=private_key.public_key())
            finally:
                obj.destroy()

    @staticmethod
    def is_migrated(sealed: SealedKey) -> bool:
        return sealed.wrapped_data_key[:1] == bytes([_MIGRATED])
