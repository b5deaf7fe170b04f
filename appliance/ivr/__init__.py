"""IVR: flows as data (flows.py), a sans-I/O engine per call (engine.py), business hours
(calendar.py) and Mandarin prompts made with espeak-ng (prompts.py). See docs/media.md."""

from appliance.ivr.calendar import BusinessCalendar, CalendarError, Holiday, Interval, parse_calendar
from appliance.ivr.engine import (
    Action,
    CallerInfo,
    CollectDigits,
    CreateCase,
    DigitsCollected,
    Hangup,
    IvrError,
    IvrSession,
    Play,
    RecordMessage,
    StopPlay,
    StopRecording,
    SurveyResult,
    ToQueue,
    Transfer,
)
from appliance.ivr.flows import (
    CATEGORIES,
    Flow,
    IvrConfig,
    IvrConfigError,
    load_default_ivr,
    load_ivr_file,
    parse_ivr,
    parse_ivr_toml,
)
from appliance.ivr.prompts import (
    DEFAULT_PROMPTS,
    PromptError,
    check_prompts,
    find_prompt,
    generate_prompts,
    install_recording,
    read_prompt,
)

__all__ = [
    "CATEGORIES", "DEFAULT_PROMPTS", "Action", "BusinessCalendar", "CalendarError", "CallerInfo",
    "CollectDigits", "CreateCase", "DigitsCollected", "Flow", "Hangup", "Holiday", "Interval",
    "IvrConfig", "IvrConfigError", "IvrError", "IvrSession", "Play", "PromptError", "RecordMessage",
    "StopPlay", "StopRecording", "SurveyResult", "ToQueue", "Transfer", "check_prompts", "find_prompt",
    "generate_prompts", "install_recording", "load_default_ivr", "load_ivr_file", "parse_calendar",
    "parse_ivr", "parse_ivr_toml", "read_prompt",
]
