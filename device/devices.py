"""The phones the adb server sees: their state and, for usable ones, what the push needs to know; and picking
the one to push to."""

from __future__ import annotations

from dataclasses import dataclass, replace

import adbutils

from wacft.device.adb import Listed, Phone, PhoneGone, list_devices
from wacft.device.futo import futo_packages
from wacft.errors import WacftError

SHARED_STORAGE = "/sdcard/"
ENABLE_DEBUGGING = ("turn on USB debugging (Settings → About phone → tap Build number seven times, then"
                    " Settings → System → Developer options → USB debugging)")
NO_PHONE = f"No phone is connected over adb; plug it in and {ENABLE_DEBUGGING}."
# what is wrong and what to do, by state (adb adds details in brackets to "no permissions")
STATE_PROBLEMS = {
    "unauthorized": "is unauthorized: unlock it and accept the “Allow USB debugging?” prompt on its screen"
                    " (tick “Always allow from this computer”), then run again",
    "offline": "is offline: it does not answer adb; unplug and replug the cable (or turn USB debugging off"
               " and on), then run again",
    "no permissions": "may not be opened over USB by this user; add a udev rule for it"
                      " (https://developer.android.com/studio/run/device), then run again",
    "authorizing": "is still connecting; wait a moment and run again",
    "connecting": "is still connecting; wait a moment and run again",
}


class NoPhone(WacftError):
    pass


class PhoneNotUsable(WacftError):
    pass


class SeveralPhones(WacftError):
    pass


@dataclass(frozen=True)
class PhoneInfo:
    serial: str
    state: str  # as adb lists it: device, unauthorized, offline, no permissions (...), recovery, ...
    transport_id: int | None = None
    model: str | None = None
    android: str | None = None
    free_bytes: int | None = None  # on shared storage
    futo_packages: tuple[str, ...] = ()

    def open(self, client: adbutils.AdbClient) -> Phone:
        return Phone(client, self.serial, self.transport_id)

    @property
    def usable(self) -> bool:
        return self.state == "device"

    @property
    def futo_package(self) -> str | None:
        return self.futo_packages[0] if self.futo_packages else None

    @property
    def problem(self) -> str | None:
        """For a phone that cannot be used: one sentence, what is wrong and what to do."""
        if self.usable:
            return None
        kind = self.state.split(" (")[0]
        problem = STATE_PROBLEMS.get(kind, f"is in {kind} mode; start Android normally, then run again")
        return f"The phone {self.serial} {problem}."


def free_bytes(phone: Phone, folder: str) -> int | None:
    """Free space for `folder` from toybox `df -k`, or None when the phone's df says nothing we can read."""
    r = phone.shell("df", "-k", folder)
    lines = r.out.splitlines()
    if r.code or len(lines) < 2 or "Available" not in lines[0].split():
        return None
    row = lines[-1].split()
    column = lines[0].split().index("Available")
    return int(row[column]) * 1024 if column < len(row) and row[column].isdigit() else None


def describe(client: adbutils.AdbClient, listed: Listed) -> PhoneInfo:
    info = PhoneInfo(listed.serial, listed.state, listed.transport_id)
    if not info.usable:
        return info
    phone = info.open(client)
    try:
        props = phone.getprops()
        return replace(info, model=props.get("ro.product.model"),
                       android=props.get("ro.build.version.release"),
                       free_bytes=free_bytes(phone, SHARED_STORAGE), futo_packages=futo_packages(phone))
    except PhoneGone:  # it went away while we asked
        return replace(info, state="offline")


def list_phones(client: adbutils.AdbClient) -> list[PhoneInfo]:
    return [describe(client, listed) for listed in list_devices(client)]


def choose_phone(phones: list[PhoneInfo], serial: str | None = None) -> PhoneInfo:
    """The phone with `serial`, or the only usable one; otherwise a sentence saying how to choose."""
    if serial is not None:
        match = [p for p in phones if p.serial == serial]
        if not match:
            seen = ", ".join(p.serial for p in phones) or "none"
            raise NoPhone(f"No phone with serial {serial} is connected (connected: {seen}); see"
                          " `wacft devices`.")
        if match[0].problem:
            raise PhoneNotUsable(match[0].problem)
        return match[0]
    usable = [p for p in phones if p.usable]
    if len(usable) == 1:
        return usable[0]
    if len(usable) > 1:
        serials = ", ".join(p.serial for p in usable)
        raise SeveralPhones(f"{len(usable)} phones are connected ({serials}); choose one with --device"
                            " SERIAL.")
    if phones:
        raise PhoneNotUsable(" ".join(p.problem or "" for p in phones))
    raise NoPhone(NO_PHONE)
