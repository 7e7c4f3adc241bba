"""Which profiler times a table: the layer above this machine's (:mod:`.profiler`) and a remote
device's (:mod:`.remote`, :mod:`.native_runner`), so that neither of those imports the other."""

from __future__ import annotations

from .device_address import RemoteDevice
from .native_runner import NativeRunnerProfiler
from .profiler import Profiler, ProfilerSettings
from .remote import RemoteProfiler


def make_profiler(settings: ProfilerSettings, reference_ms: float | None = None):
    """The profiler for ``settings.device``: this machine's, a remote device's over ssh, or a
    phone's over adb (ExecuTorch's native runner: a phone has no Python)."""
    remote = RemoteDevice.parse(settings.device)
    if remote is not None and remote.scheme == "adb" and settings.runtime == "executorch":
        return NativeRunnerProfiler(settings, reference_ms)
    if remote is not None:
        return RemoteProfiler(settings, reference_ms)
    return Profiler(settings, reference_ms)
