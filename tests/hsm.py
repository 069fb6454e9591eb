"""A SoftHSM2 token for the tests of the PKCS#11 key vault, and the switch between the two vaults.

Modules marked ``both_vaults`` run every test twice: on the software vault and on the PKCS#11 vault
(``key_vault`` is parametrized by ``tests/conftest.py``); everything else runs on the software vault.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKCS11_VAULT = "certificates.hsm.Pkcs11KeyVault"


@dataclass(frozen=True)
class SoftToken:
    conf: str
    module: str
    label: str
    pin: str


def softhsm_token_create(directory: Path, label: str) -> SoftToken:
    """A new token through ``scripts/softhsm-token`` (the script ``make run-hsm`` uses)."""
    pin_file = directory / f"{label}.pin"
    out = subprocess.run(
        [str(ROOT / "scripts" / "softhsm-token"), str(directory), label, str(pin_file)],
        check=True, capture_output=True, text=True,
    ).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    # SoftHSM2 reads its configuration once, when the library is first initialized in the process.
    os.environ["SOFTHSM2_CONF"] = env["SOFTHSM2_CONF"]
    return SoftToken(conf=env["SOFTHSM2_CONF"], module=env["CA_HSM_MODULE"], label=label,
                     pin=pin_file.read_text().strip())


def use_token(settings, token: SoftToken) -> None:  # noqa: ANN001
    settings.CA_KEY_VAULT_BACKEND = PKCS11_VAULT
    settings.CA_HSM_MODULE = token.module
    settings.CA_HSM_TOKEN_LABEL = token.label
    settings.CA_HSM_PIN = token.pin


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> SoftToken:
    """One token for the session: the CA's token keys are made once, like the CA itself."""
    return softhsm_token_create(tmp_path_factory.mktemp("softhsm"), "firma-test")


@pytest.fixture(scope="session")
def _ca_hierarchies() -> dict[str, list]:
    """The session's CA per vault (``tests.certificates.conftest.ca_hierarchy`` fills it)."""
    return {}


@pytest.fixture(autouse=True)
def key_vault(request: pytest.FixtureRequest) -> str:
    """The vault the test runs on: "software" unless the module is marked ``both_vaults``."""
    backend = getattr(request, "param", "software")
    if backend == "pkcs11":
        use_token(request.getfixturevalue("settings"), request.getfixturevalue("softhsm_token"))
    return backend


def wrapping_key_destroy(kek_id: str) -> None:
    """Remove a retired wrapping key from the test token (what an HSM administrator does after rotation)."""
    from pkcs11 import Attribute, ObjectClass

    from certificates.hsm import device_get, wrapping_key_label

    with device_get().session() as session:
        for key in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY,
                                        Attribute.LABEL: wrapping_key_label(kek_id)}):
            key.destroy()


@pytest.fixture
def device_outage(monkeypatch):
    """The device disappears: every session dies and no new one opens (as when it is unplugged)."""
    from pkcs11.exceptions import DeviceRemoved

    from certificates import hsm

    device = hsm.device_get()

    class Unplugged:
        label = device.label

        def open(self, **_kwargs):
            raise DeviceRemoved

    def start() -> None:
        device._lib.reinitialize()  # noqa: SLF001  (the sessions and the login of this process are gone)
        monkeypatch.setattr(device, "_token", Unplugged())

    def end() -> None:
        monkeypatch.undo()

    yield start, end
    monkeypatch.undo()
    hsm.device_forget()
