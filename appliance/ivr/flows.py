"""IVR flows as data: the `[ivr]` table of the box config (or a file it names), validated.

A flow is a graph of named nodes; each node has a ``type`` and says where the call goes
next. Layout under ``[ivr]`` (or at the top of a flows file named by ``[ivr] file``)::

    default_flow = "main"
    prompt_dir = "/var/lib/anxin/prompts"      # relative: to the file's folder
    [prompts]                                   # texts to generate, over DEFAULT_PROMPTS
    [calendar]                                  # business hours (appliance.ivr.calendar)
    [flows.main]
    start = "welcome"
    agent_key = "0"                             # "0 for an agent" in every play and menu node
    agent_node = "agent"
    [flows.main.nodes.welcome]
    type = "play"
    prompt = ["welcome", "recording_notice"]
    next = "main_menu"

Node types and their keys are in NODE_KEYS. Errors are ConfigError (file:line: key:
message, like the box config loader) and stop at the first one: a flow that cannot run
correctly is refused at start, not discovered in a call. Nodes that cannot be reached
are warnings (IvrConfig.warnings): harmless in a call, often a draft branch kept for later.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from appliance.config.loader import ConfigError, Key, TableValidator
from appliance.ivr.calendar import BusinessCalendar, CalendarError, parse_calendar
from appliance.ivr.prompts import DEFAULT_PROMPTS, PROMPT_NAME, prompt_problem

CATEGORIES = ("elder", "vip", "important", "blacklist", "unknown")
DIGITS = "0123456789*#"
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NUMBER = (int, float)
DEFAULT_FILE = Path(__file__).with_name("default_flows.toml")
# Node types that move on at once, without playing or waiting: a loop made only of these
# would spin forever inside one call.
INSTANT_TYPES = frozenset({"branch_caller", "hours"})


class IvrConfigError(ConfigError):
    """A bad IVR flow: `box.toml:40: ivr.flows.main.nodes.welcome.next: no node 'menu2'`."""


@dataclass(frozen=True)
class Node:
    name: str
    type: ClassVar[str] = ""
    # Keys whose values name other nodes; edges() reads them.
    TARGETS: ClassVar[tuple[str, ...]] = ()

    def edges(self) -> list[tuple[tuple[str, ...], str]]:
        """(key path inside the node, target node name) for every way out of the node."""
        return [((key,), getattr(self, key)) for key in self.TARGETS if getattr(self, key)]

    def prompts(self) -> set[str]:
        names = set(getattr(self, "prompt", ()))
        names.update(p for key in ("invalid_prompt", "timeout_prompt") if (p := getattr(self, key, None)))
        return names


@dataclass(frozen=True)
class PlayNode(Node):
    """Play information (service hours …), then go on."""

    prompt: tuple[str, ...] = ()
    next: str = ""
    interruptible: bool = True
    type: ClassVar[str] = "play"
    TARGETS: ClassVar[tuple[str, ...]] = ("next",)


@dataclass(frozen=True)
class MenuNode(Node):
    """One key chooses; nothing or a wrong key re-prompts up to ``retries`` times."""

    prompt: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    retries: int = 2
    timeout_next: str = ""
    invalid_next: str = ""
    invalid_prompt: str | None = None
    timeout_prompt: str | None = None
    interruptible: bool = True
    type: ClassVar[str] = "menu"
    TARGETS: ClassVar[tuple[str, ...]] = ("timeout_next", "invalid_next")

    def edges(self) -> list[tuple[tuple[str, ...], str]]:
        return [(("options", d), target) for d, target in self.options.items()] + super().edges()


@dataclass(frozen=True)
class CollectNode(Node):
    """Several digits (a member number …) into the call's variable ``into``."""

    prompt: tuple[str, ...] = ()
    into: str = ""
    min_digits: int = 1
    max_digits: int = 20
    terminator: str | None = "#"
    timeout: float = 5.0
    inter_digit_timeout: float = 3.0
    retries: int = 2
    next: str = ""
    timeout_next: str = ""
    invalid_next: str = ""
    invalid_prompt: str | None = None
    timeout_prompt: str | None = None
    type: ClassVar[str] = "collect"
    TARGETS: ClassVar[tuple[str, ...]] = ("next", "timeout_next", "invalid_next")


@dataclass(frozen=True)
class QueueNode(Node):
    """Hand the call to an ACD queue; ``after_agent`` runs when the agent hangs up first."""

    queue: str = ""
    priority: int = 0
    prompt: tuple[str, ...] = ()
    after_agent: str | None = None
    fallback: str | None = None
    type: ClassVar[str] = "queue"
    TARGETS: ClassVar[tuple[str, ...]] = ("after_agent", "fallback")


@dataclass(frozen=True)
class BranchCallerNode(Node):
    """By caller category (registered elder, VIP, important, blacklist, unknown)."""

    routes: Mapping[str, str] = field(default_factory=dict)
    default: str = ""
    type: ClassVar[str] = "branch_caller"
    TARGETS: ClassVar[tuple[str, ...]] = ("default",)

    def edges(self) -> list[tuple[tuple[str, ...], str]]:
        return [((c,), target) for c, target in self.routes.items()] + super().edges()

    def target(self, category: str) -> str:
        return self.routes.get(category, self.default)


@dataclass(frozen=True)
class HoursNode(Node):
    """Business hours from the calendar: ``open`` or ``closed`` (``holiday`` if given)."""

    open: str = ""
    closed: str = ""
    holiday: str | None = None
    type: ClassVar[str] = "hours"
    TARGETS: ClassVar[tuple[str, ...]] = ("open", "closed", "holiday")


@dataclass(frozen=True)
class TransferNode(Node):
    """Call a number out on the trunk (the duty mobile, 值班手机) and bridge the caller."""

    number: str = ""
    prompt: tuple[str, ...] = ()
    after_agent: str | None = None
    fallback: str | None = None
    type: ClassVar[str] = "transfer"
    TARGETS: ClassVar[tuple[str, ...]] = ("after_agent", "fallback")


@dataclass(frozen=True)
class MessageNode(Node):
    """投诉留言: record after the prompt (and a beep) and open a case with the recording."""

    prompt: tuple[str, ...] = ()
    max_seconds: float = 120.0
    finish_key: str = "#"
    case_kind: str = "complaint"
    beep: bool = True
    next: str = ""
    type: ClassVar[str] = "message"
    TARGETS: ClassVar[tuple[str, ...]] = ("next",)


@dataclass(frozen=True)
class SurveyNode(Node):
    """满意度评价 after the agent hung up: a key from ``choices``, stored with the call."""

    prompt: tuple[str, ...] = ()
    choices: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    retries: int = 1
    invalid_prompt: str | None = None
    timeout_prompt: str | None = None
    next: str | None = None
    timeout_next: str | None = None
    type: ClassVar[str] = "survey"
    TARGETS: ClassVar[tuple[str, ...]] = ("next", "timeout_next")


@dataclass(frozen=True)
class HangupNode(Node):
    """Say goodbye (optional prompt) and clear the call."""

    prompt: tuple[str, ...] = ()
    reason: str = "normal"
    type: ClassVar[str] = "hangup"


NODE_CLASSES: dict[str, type[Node]] = {cls.type: cls for cls in (
    PlayNode, MenuNode, CollectNode, QueueNode, BranchCallerNode, HoursNode, TransferNode,
    MessageNode, SurveyNode, HangupNode)}


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    nodes: Mapping[str, Node]
    agent_key: str | None = None
    agent_node: str | None = None
    calendar: BusinessCalendar | None = None
    # Added to a queue node's priority by caller category (higher is served sooner).
    category_priority: Mapping[str, int] = field(default_factory=dict)
    description: str = ""

    def prompts(self) -> set[str]:
        return set().union(*(node.prompts() for node in self.nodes.values()))


@dataclass(frozen=True)
class IvrConfig:
    flows: Mapping[str, Flow]
    default_flow: str
    prompt_dir: Path | None
    prompt_texts: Mapping[str, str]
    calendar: BusinessCalendar | None
    warnings: tuple[str, ...] = ()
    source: str = "<config>"

    @property
    def flow(self) -> Flow:
        return self.flows[self.default_flow]

    def prompts(self) -> set[str]:
        return set().union(*(flow.prompts() for flow in self.flows.values()))


def _positive(value: float) -> str | None:
    return None if value > 0 else f"must be > 0, got {value}"


def _non_negative(value: int) -> str | None:
    return None if value >= 0 else f"must be >= 0, got {value}"


def _one_key(value: str) -> str | None:
    return None if len(value) == 1 and value in DIGITS else f"{value!r} is not one key of {DIGITS}"


def _prompt_names(value: str | list[Any]) -> str | None:
    names = [value] if isinstance(value, str) else value
    if not names:
        return "needs at least one prompt"
    for name in names:
        if not isinstance(name, str) or not PROMPT_NAME.match(name):
            return f"{name!r} is not a prompt name ({PROMPT_NAME.pattern})"
    return None


def _prompt_name(value: str) -> str | None:
    return None if PROMPT_NAME.match(value) else f"{value!r} is not a prompt name ({PROMPT_NAME.pattern})"


def _name(value: str) -> str | None:
    return None if NAME.match(value) else f"{value!r} is not a name ([A-Za-z0-9_-])"


def _phone(value: str) -> str | None:
    return None if re.match(r"^\d{3,20}$", value) else f"{value!r} is not a phone number (3 to 20 digits)"


PROMPT = Key((str, list), required=True, check=_prompt_names)
PROMPT_OPT = Key((str, list), check=_prompt_names)
TARGET, TARGET_OPT = Key(str, required=True), Key(str)
EXTRA_PROMPT = Key(str, check=_prompt_name)
TIMEOUT = Key(NUMBER, default=5.0, check=_positive)
RETRIES = Key(int, default=2, check=_non_negative)
NODE_KEYS: dict[str, dict[str, Key]] = {
    "play": {"prompt": PROMPT, "next": TARGET, "interruptible": Key(bool, default=True)},
    "menu": {"prompt": PROMPT, "options": Key(dict, required=True), "timeout": TIMEOUT, "retries": RETRIES,
             "timeout_next": TARGET_OPT, "invalid_next": TARGET_OPT, "invalid_prompt": EXTRA_PROMPT,
             "timeout_prompt": EXTRA_PROMPT, "interruptible": Key(bool, default=True)},
    "collect": {"prompt": PROMPT, "into": Key(str, required=True, check=_name),
                "min_digits": Key(int, default=1), "max_digits": Key(int, default=20),
                "terminator": Key(str, default="#", check=lambda v: None if v == "" else _one_key(v)),
                "timeout": TIMEOUT, "inter_digit_timeout": Key(NUMBER, default=3.0, check=_positive),
                "retries": RETRIES, "next": TARGET, "timeout_next": TARGET_OPT, "invalid_next": TARGET_OPT,
                "invalid_prompt": EXTRA_PROMPT, "timeout_prompt": EXTRA_PROMPT},
    "queue": {"queue": Key(str, required=True), "priority": Key(int, default=0), "prompt": PROMPT_OPT,
              "after_agent": TARGET_OPT, "fallback": TARGET_OPT},
    "branch_caller": {**{c: TARGET_OPT for c in CATEGORIES}, "default": TARGET_OPT},
    "hours": {"open": TARGET, "closed": TARGET, "holiday": TARGET_OPT},
    "transfer": {"number": Key(str, required=True, check=_phone), "prompt": PROMPT_OPT,
                 "after_agent": TARGET_OPT, "fallback": TARGET_OPT},
    "message": {"prompt": PROMPT, "next": TARGET, "finish_key": Key(str, default="#", check=_one_key),
                "max_seconds": Key(NUMBER, default=120.0, check=lambda v: None if 0 < v <= 600
                                   else f"must be between 0 and 600 seconds, got {v}"),
                "case_kind": Key(str, default="complaint", check=_name),
                "beep": Key(bool, default=True)},
    "survey": {"prompt": PROMPT, "choices": Key(dict, required=True), "timeout": TIMEOUT,
               "retries": Key(int, default=1, check=_non_negative), "invalid_prompt": EXTRA_PROMPT,
               "timeout_prompt": EXTRA_PROMPT, "next": TARGET_OPT, "timeout_next": TARGET_OPT},
    "hangup": {"prompt": PROMPT_OPT, "reason": Key(str, default="normal")},
}
FLOW_KEYS: dict[str, Key] = {
    "start": Key(str, required=True), "description": Key(str, default=""),
    "agent_key": Key(str, check=_one_key), "agent_node": Key(str),
    "invalid_prompt": EXTRA_PROMPT, "timeout_prompt": EXTRA_PROMPT,
    "category_priority": Key(dict, default={}), "nodes": Key(dict, required=True),
}
IVR_KEYS: dict[str, Key] = {
    "file": Key(str), "prompt_dir": Key(str), "default_flow": Key(str),
    "calendar": Key(dict), "prompts": Key(dict, default={}), "flows": Key(dict, required=True),
}


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "table", list: "array"}
    return " or ".join(dict.fromkeys(names.get(x, x.__name__) for x in (t if isinstance(t, tuple) else (t,))))


def _hint(name: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Checker(TableValidator):
    """The config loader's table checks, raising IvrConfigError, plus warnings."""

    error = IvrConfigError

    def __init__(self, text: str, source: str, prefix: tuple[str, ...]) -> None:
        super().__init__(text, source, prefix)
        self.warnings: list[str] = []

    def warn(self, path: tuple[str | int, ...], message: str) -> None:
        self.warnings.append(str(self.fail(path, message)))

    def type_name(self, t: type | tuple[type, ...]) -> str:
        return _type_name(t)  # flows also hold tables and arrays

    def got_name(self, value: Any) -> str:
        return _type_name(type(value))


def _prompts(value: str | list[str] | None) -> tuple[str, ...]:
    return () if value is None else ((value,) if isinstance(value, str) else tuple(value))


def _digit_map(c: _Checker, data: dict[str, Any], path: tuple[str | int, ...], what: str) -> dict[str, str]:
    if not data:
        raise c.fail(path, f"needs at least one {what}")
    for digit, value in data.items():
        if problem := _one_key(digit):
            raise c.fail((*path, digit), problem)
        if not isinstance(value, str) or not value:
            raise c.fail((*path, digit), f"expected a {'label' if what == 'choice' else 'node name'}")
    return dict(data)


def _node(c: _Checker, name: str, data: Any, flow: dict[str, Any], path: tuple[str | int, ...]) -> Node:
    if not NAME.match(name):
        raise c.fail(path, f"{name!r} is not a node name ([A-Za-z0-9_-])")
    if not isinstance(data, dict):
        raise c.fail(path, "must be a table")
    kind = data.get("type")
    if kind is None:
        raise c.fail(path, f"missing required key 'type' (one of {', '.join(NODE_CLASSES)})")
    if kind not in NODE_CLASSES:
        raise c.fail((*path, "type"), f"unknown node type {kind!r}{_hint(str(kind), NODE_CLASSES)} "
                                      f"(types: {', '.join(NODE_CLASSES)})")
    values = c.table(data, NODE_KEYS[kind], path, ignore=("type",))
    if "prompt" in values:
        values["prompt"] = _prompts(values["prompt"])
    for key in ("timeout", "inter_digit_timeout", "max_seconds"):
        if values.get(key) is not None:
            values[key] = float(values[key])
    if kind in ("menu", "collect", "survey"):
        for key in ("invalid_prompt", "timeout_prompt"):
            values[key] = values[key] or flow[key]
    if kind in ("menu", "collect"):
        if not values["timeout_next"]:
            # An elder who puts the receiver down without hanging up must not sit here forever.
            raise c.fail(path, f"a {kind} needs timeout_next: where the call goes when no key is pressed "
                               f"after {values['retries']} retries")
        values["invalid_next"] = values["invalid_next"] or values["timeout_next"]
    if kind == "menu":
        values["options"] = _digit_map(c, values["options"], (*path, "options"), "option")
    if kind == "survey":
        values["choices"] = _digit_map(c, values["choices"], (*path, "choices"), "choice")
        if any(not d.isdigit() for d in values["choices"]):
            raise c.fail((*path, "choices"), "survey choices are digits (the score is the digit)")
    if kind == "collect":
        values["terminator"] = values["terminator"] or None
        if not 1 <= values["min_digits"] <= values["max_digits"] <= 64:
            raise c.fail((*path, "min_digits"), "needs 1 <= min_digits <= max_digits <= 64")
    if kind == "branch_caller":
        routes = {cat: values.pop(cat) for cat in CATEGORIES if values[cat]}
        if not values["default"] and len(routes) < len(CATEGORIES):
            missing = ", ".join(cat for cat in CATEGORIES if cat not in routes)
            raise c.fail(path, f"needs 'default' (no route for {missing})")
        values = {"routes": routes, "default": values["default"] or ""}
    return NODE_CLASSES[kind](name=name, **values)


def _flow(c: _Checker, name: str, data: Any, calendar: BusinessCalendar | None,
          queues: Collection[str] | None) -> Flow:
    path: tuple[str | int, ...] = ("flows", name)
    if not NAME.match(name):
        raise c.fail(path, f"{name!r} is not a flow name ([A-Za-z0-9_-])")
    flow = c.table(data, FLOW_KEYS, path)
    for category, bonus in flow["category_priority"].items():
        where = (*path, "category_priority", category)
        if category not in CATEGORIES:
            raise c.fail(where, f"unknown caller category{_hint(category, CATEGORIES)} "
                                f"(categories: {', '.join(CATEGORIES)})")
        if isinstance(bonus, bool) or not isinstance(bonus, int):
            raise c.fail(where, "expected integer")
    if bool(flow["agent_key"]) != bool(flow["agent_node"]):
        raise c.fail((*path, "agent_key" if flow["agent_key"] else "agent_node"),
                     "agent_key and agent_node go together")
    if not flow["nodes"]:
        raise c.fail((*path, "nodes"), "a flow needs nodes")
    nodes = {n: _node(c, n, d, flow, (*path, "nodes", n)) for n, d in flow["nodes"].items()}

    def ref(where: tuple[str | int, ...], target: str) -> None:
        if target not in nodes:
            raise c.fail(where, f"no node {target!r}{_hint(target, nodes)}")

    ref((*path, "start"), flow["start"])
    if flow["agent_node"]:
        ref((*path, "agent_node"), flow["agent_node"])
    for node in nodes.values():
        where = (*path, "nodes", node.name)
        for key, target in node.edges():
            ref((*where, *key), target)
        if isinstance(node, HoursNode) and calendar is None:
            raise c.fail((*where, "type"), "an hours node needs the business-hours calendar ([ivr.calendar])")
        if isinstance(node, QueueNode) and queues is not None and node.queue not in queues:
            raise c.fail((*where, "queue"), f"no queue {node.queue!r}{_hint(node.queue, queues)} "
                                            f"(queues: {', '.join(sorted(queues)) or 'none'})")
    _check_instant_loops(c, path, nodes)
    reached = _reachable(flow["start"], flow["agent_node"], nodes)
    for node_name in nodes:
        if node_name not in reached:
            c.warn((*path, "nodes", node_name), f"node is never reached from start {flow['start']!r}")
    return Flow(name=name, start=flow["start"], nodes=nodes, agent_key=flow["agent_key"],
                agent_node=flow["agent_node"], calendar=calendar,
                category_priority=dict(flow["category_priority"]), description=flow["description"])


def _reachable(start: str, agent_node: str | None, nodes: Mapping[str, Node]) -> set[str]:
    seen: set[str] = set()
    todo = [start, *([agent_node] if agent_node else [])]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(target for _, target in nodes[name].edges())
    return seen


def _check_instant_loops(c: _Checker, path: tuple[str | int, ...], nodes: Mapping[str, Node]) -> None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for _, target in nodes[name].edges():
            if nodes[target].type not in INSTANT_TYPES:
                continue
            if state.get(target) == 1:
                loop = [*trail[trail.index(target):], target]
                raise c.fail((*path, "nodes", target),
                             f"loop {' → '.join(loop)} plays nothing and waits for nothing: a call would "
                             "spin here for ever")
            if target not in state:
                visit(target, [*trail, target])
        state[name] = 2

    for name, node in nodes.items():
        if node.type in INSTANT_TYPES and name not in state:
            visit(name, [name])


def parse_ivr(data: Mapping[str, Any], text: str, source: str = "<config>", *,
              prefix: tuple[str, ...] = ("ivr",), base_dir: Path | None = None,
              queues: Collection[str] | None = None, prompt_dir: Path | None = None,
              check_prompt_files: bool = True, allow_file: bool = True) -> IvrConfig:
    """Validate the IVR table DATA, parsed from TEXT (the whole file, for line numbers).

    PREFIX is where DATA sits in the file (``("ivr",)`` in the box config, ``()`` in a
    flows file). QUEUES, when given, are the ACD queue names a queue node may use.
    PROMPT_DIR overrides ``prompt_dir``; when a prompt directory is known and
    CHECK_PROMPT_FILES is set, every prompt a flow uses must be a playable file there.
    ALLOW_FILE is False inside a flows file: it cannot name another one.
    """
    c = _Checker(text, source, prefix)
    base = base_dir or Path.cwd()
    if isinstance(data, dict) and "file" in data:
        if not allow_file:
            raise c.fail(("file",), "a flows file cannot name another one")
        others = [k for k in data if k != "file"]
        if others:
            raise c.fail((others[0],), "with ivr.file the flows live in that file: nothing else here")
        if not isinstance(data["file"], str):
            raise c.fail(("file",), "expected string")
        return load_ivr_file(base / data["file"], queues=queues, prompt_dir=prompt_dir,
                             check_prompt_files=check_prompt_files)
    ivr = c.table(data, IVR_KEYS, ())
    calendar = None
    if ivr["calendar"] is not None:
        try:
            calendar = parse_calendar(ivr["calendar"])
        except CalendarError as exc:
            raise c.fail(("calendar", *exc.path), exc.message) from exc
    texts = dict(DEFAULT_PROMPTS)
    for name, value in ivr["prompts"].items():
        if not PROMPT_NAME.match(name):
            raise c.fail(("prompts", name), f"{name!r} is not a prompt name ({PROMPT_NAME.pattern})")
        if not isinstance(value, str) or not value.strip():
            raise c.fail(("prompts", name), "expected the prompt's text (a non-empty string)")
        texts[name] = value
    if not ivr["flows"]:
        raise c.fail(("flows",), "needs at least one flow")
    flows = {name: _flow(c, name, body, calendar, queues) for name, body in ivr["flows"].items()}
    default = ivr["default_flow"] or ("main" if "main" in flows else None)
    if default is None:
        if len(flows) > 1:
            raise c.fail(("flows",), "several flows: say which one answers calls with default_flow")
        default = next(iter(flows))
    if default not in flows:
        raise c.fail(("default_flow",), f"no flow {default!r}{_hint(default, flows)}")
    directory = prompt_dir or ((base / ivr["prompt_dir"]).resolve() if ivr["prompt_dir"] else None)
    if directory is not None and check_prompt_files:
        _check_prompt_files(c, flows, directory)
    return IvrConfig(flows=flows, default_flow=default, prompt_dir=directory, prompt_texts=texts,
                     calendar=calendar, warnings=tuple(c.warnings), source=source)


def _check_prompt_files(c: _Checker, flows: Mapping[str, Flow], directory: Path) -> None:
    for flow in flows.values():
        for node in flow.nodes.values():
            for key in ("prompt", "invalid_prompt", "timeout_prompt"):
                names = getattr(node, key, None)
                for name in (names,) if isinstance(names, str) else (names or ()):
                    if problem := prompt_problem(name, directory):
                        raise c.fail(("flows", flow.name, "nodes", node.name, key), problem)


def parse_ivr_toml(text: str, source: str = "<config>", *, prefix: tuple[str, ...] = ("ivr",),
                   **options: Any) -> IvrConfig:
    """Parse TOML TEXT and validate the table at PREFIX (see parse_ivr for OPTIONS)."""
    try:
        data: Any = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise IvrConfigError(f"not valid TOML: {exc}", source, line) from exc
    for i, part in enumerate(prefix):
        if not isinstance(data, dict) or part not in data:
            raise IvrConfigError(f"missing section [{'.'.join(prefix[:i + 1])}]", source)
        data = data[part]
    return parse_ivr(data, text, source, prefix=prefix, **options)


def load_ivr_file(path: str | Path, **options: Any) -> IvrConfig:
    """A flows file: the keys of [ivr] at its top level; relative paths from its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IvrConfigError(f"cannot read IVR flows: {exc.strerror}", str(path)) from exc
    except UnicodeDecodeError as exc:
        raise IvrConfigError(f"not UTF-8: {exc}", str(path)) from exc
    return parse_ivr_toml(text, str(path), prefix=(), base_dir=path.resolve().parent, allow_file=False,
                          **options)


def load_default_ivr(**options: Any) -> IvrConfig:
    """The embedded demo flows (default_flows.toml next to this module)."""
    return load_ivr_file(DEFAULT_FILE, **options)
