"""What pbxd does with a call: the IVR to the agents' phones, when the box has phones.

Built from the config at start (a bad flow, a missing prompt or an FXS port that cannot
be opened stops pbxd with a message that names it; a missing recording key does not:
calls go on unrecorded, loudly). A box without `[[telephony.fxs]]` has no one to put a
call through to, so its trunks keep refusing calls with cause 34 (trunks.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from appliance.config import Config
from appliance.ivr.flows import IvrConfig, load_default_ivr
from appliance.ivr.prompts import check_prompts
from appliance.pbx.agents import AgentPhones
from appliance.pbx.ivr_call import IvrCallHandler
from appliance.recording.container import RecordingMeta, RecordingWriter
from appliance.recording.keys import load_keyring
from drivers.e1_card.fxs import FxsPort, open_fxs
from drivers.e1_card.stack import PriSpan

log = logging.getLogger("pbxd.calls")


class CallPathError(ValueError):
    """The call path cannot be built from this config: says what to fix."""


class CallPath:
    """The IVR, prompts, recording and agents' phones of one box."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.ivr: IvrConfig = config.ivr or load_default_ivr(check_prompt_files=False)
        self.prompt_dir = self.ivr.prompt_dir or config.box.data_dir / "prompts"
        missing = check_prompts(self.ivr.flow, self.prompt_dir)
        if missing:
            raise CallPathError(f"IVR prompts missing in {self.prompt_dir}: {', '.join(sorted(missing))} "
                                f"(run: anxin-box prompts generate --config {config.source or 'box.toml'})")
        self.ports: list[FxsPort] = []
        try:
            for fxs in config.fxs:
                self.ports.append(open_fxs(fxs.url))
        except Exception as exc:
            self.close()
            raise CallPathError(f"FXS port: {exc}") from exc
        self.agents = AgentPhones(self.ports)
        self.recordings_dir = config.recording.dir or config.box.data_dir / "recordings"
        self._record = self._recorder_factory()
        self._taken = False

    def _recorder_factory(self) -> Callable[[str, datetime], RecordingWriter] | None:
        keys_file = self.config.recording.keys_file
        if keys_file is None:
            log.error("未配置录音密钥 no [recording] keys_file: calls are NOT recorded")
            return None
        keyring = load_keyring(keys_file, recordings_dir=self.recordings_dir)
        self.recordings_dir.mkdir(parents=True, exist_ok=True)

        def start(name: str, at: datetime) -> RecordingWriter:
            path = self.recordings_dir / f"{at:%Y%m%d-%H%M%S}-{name}.arec"
            return RecordingWriter(path, keyring.current, RecordingMeta(call_id=name, started_at=at))

        return start

    def handler_for(self, span: PriSpan) -> IvrCallHandler:
        # One set of phones: the first span's calls reach them; ACD (next issue) shares them.
        agents = None if self._taken else self.agents
        self._taken = True
        return IvrCallHandler(span, self.ivr, self.prompt_dir, recorder_factory=self._record,
                              agents=agents, message_dir=self.config.box.data_dir / "messages")

    def close(self) -> None:
        for port in self.ports:
            port.close()

