"""全程录音: every call recorded, encrypted at rest, indexed in box.db, kept by rule.

- `container`: the `.arec` format (AES-256-GCM chunks), `RecordingWriter`, `RecordingReader`.
- `keys`: the box's recording keys from the key file issued at provisioning.
- `index`: box.db rows of recordings and the export audit log.
- `retention`: which recordings may go (sans-I/O planner) and a thin executor.
- `export`: `anxin-box recording export ID` — decrypt to a WAV, audited.

docs/recording.md documents the container byte by byte and the rules.
"""

from appliance.recording.container import (
    RecordingError,
    RecordingHeader,
    RecordingMeta,
    RecordingReader,
    RecordingWriter,
    Tampered,
    Truncated,
    UnsupportedVersion,
    WrongKey,
)
from appliance.recording.keys import KeyFileError, Keyring, RecordingKey, load_keyring

__all__ = [
    "KeyFileError", "Keyring", "RecordingError", "RecordingHeader", "RecordingKey", "RecordingMeta",
    "RecordingReader", "RecordingWriter", "Tampered", "Truncated", "UnsupportedVersion", "WrongKey",
    "load_keyring",
]
