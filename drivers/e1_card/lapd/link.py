"""Q.921 data link, multiple-frame operation, point-to-point (SAPI 0, TEI 0), sans-I/O.

Follows the SDL of Q.921 Annex B (Figures B.4-B.9): establishment either way including
SABME collisions (5.5.4), release, I/RR/RNR/REJ with modulo-128 V(S)/V(A)/V(R) and
window k, the reject exception condition (REJ recovery), timer recovery (T200: RR with
P=1 enquiry, retransmission from the N(R) of the F=1 answer), T203 idle polling (RR P=1,
which libpri answers and itself sends), peer receiver busy (RNR), and the exception
handling of 5.8 (N(R) errors, FRMR, unsolicited responses, SABME while established,
invalid frames). The own-receiver-busy condition is not offered (we never refuse data).

Choices where Annex B leaves room or the PRI needs something, see also states.py:

* T200 expiry in the established state always sends an enquiry (never the "retransmit
  the last I frame with P=1" option), as libpri does.
* N200 enquiries without answer: MdlError('I') then Released, state TEI_ASSIGNED.
* no FRMR is transmitted (Q.921, ETSI): a frame rejection condition while established
  gives MdlError and re-establishment. ``send_frmr=True`` adds the FRMR of the 1988
  text / some US switches before the SABME.
* ``Established(reestablished=True)`` on every reset of an established link (the SDL
  only raises DL-ESTABLISH-INDICATION when I frames were outstanding).
* received frames are answered at once: an in-sequence I frame with P=0 is acknowledged
  by our next I frame or, if none goes out while handling it, by an RR response.

Time is passed in as ``now`` (seconds, any monotonic origin); ``get_timer`` returns an
absolute deadline on the same clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from drivers.e1_card.errors import LocalProtocolError
from drivers.e1_card.lapd.events import (
    MDL_ERRORS,
    DataIndication,
    Established,
    LinkEvent,
    MdlError,
    Released,
    UnitDataIndication,
)
from drivers.e1_card.lapd.frames import (
    MODULUS,
    N201,
    SAPI_CALL_CONTROL,
    TEI_GROUP,
    TEI_PTP,
    Frame,
    FrameError,
    FrameKind,
    FrmrInfo,
    decode_frame,
    encode_frame,
)
from drivers.e1_card.lapd.states import ESTABLISHED_STATES, Input, LinkState, Stimulus, allowed, stimulus_name
from drivers.e1_card.roles import Role, check_role

S4 = LinkState.TEI_ASSIGNED
S5 = LinkState.AWAITING_ESTABLISHMENT
S6 = LinkState.AWAITING_RELEASE
S7 = LinkState.MULTIPLE_FRAME_ESTABLISHED
S8 = LinkState.TIMER_RECOVERY


class DataLink:
    """One D-channel's Q.921 entity. Feed it frames, requests and timer ticks; collect
    ``frames_to_send()`` and ``next_event()`` after each call."""

    def __init__(self, role: Role, *, k: int = 7, t200: float = 1.0, n200: int = 3, t203: float = 10.0,
                 n201: int = N201, send_frmr: bool = False) -> None:
        if not 1 <= k < MODULUS:
            raise ValueError(f"window k must be 1..127, not {k}")
        if t200 <= 0 or t203 <= 0 or n200 < 1 or n201 < 1:
            raise ValueError("T200, T203, N200 and N201 must be positive")
        self._role: Role = check_role(role)
        self.k, self.t200, self.n200, self.t203, self.n201 = k, t200, n200, t203, n201
        self.send_frmr = send_frmr
        self._state = S4
        self._vs = self._va = self._vr = 0
        self._rc = 0  # retransmission counter
        self._layer3_initiated = False
        self._peer_busy = False
        self._reject_exception = False
        self._ack_pending = False
        # The I queue: the first (V(S) - V(A)) mod 128 entries are sent and unacknowledged
        # (N(S) = V(A) onwards), the rest wait for the window.
        self._iqueue: deque[bytes] = deque()
        self._t200_at: float | None = None
        self._t203_at: float | None = None
        self._out: list[bytes] = []
        self._events: deque[LinkEvent] = deque()
        self._frame_handlers: dict[FrameKind, Callable[[Frame, float], None]] = {
            FrameKind.SABME: self._on_sabme, FrameKind.DISC: self._on_disc, FrameKind.UA: self._on_ua,
            FrameKind.DM: self._on_dm, FrameKind.FRMR: self._on_frmr, FrameKind.UI: self._on_ui,
            FrameKind.I: self._on_i, FrameKind.RR: self._on_supervisory,
            FrameKind.RNR: self._on_supervisory, FrameKind.REJ: self._on_supervisory,
        }

    # ------------------------------------------------------------------ read-only view
    @property
    def role(self) -> Role:
        return self._role

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def established(self) -> bool:
        """Multiple-frame operation is up (MULTIPLE_FRAME_ESTABLISHED or TIMER_RECOVERY)."""
        return self._state in ESTABLISHED_STATES

    @property
    def v_s(self) -> int:
        return self._vs

    @property
    def v_a(self) -> int:
        return self._va

    @property
    def v_r(self) -> int:
        return self._vr

    @property
    def peer_busy(self) -> bool:
        return self._peer_busy

    @property
    def outstanding(self) -> int:
        """I frames sent and not yet acknowledged."""
        return (self._vs - self._va) % MODULUS

    @property
    def queued(self) -> int:
        """I frames waiting to be sent or acknowledged."""
        return len(self._iqueue)

    # ------------------------------------------------------------------ layer 3 requests
    def establish(self, now: float) -> None:
        """DL-ESTABLISH-REQUEST: send SABME (or adopt an establishment in progress)."""
        with _Step(self, Input.ESTABLISH, request=True):
            if self._state is S5:
                if not self._layer3_initiated:  # we were re-establishing on our own
                    self._iqueue.clear()
                    self._layer3_initiated = True
                return
            self._iqueue.clear()
            self._establish_data_link(now)
            self._layer3_initiated = True
            self._state = S5

    def release(self, now: float) -> None:
        """DL-RELEASE-REQUEST: send DISC; ``Released`` follows (at once if not established)."""
        with _Step(self, Input.RELEASE, request=True):
            if self._state is S4:
                self._emit(Released())
            elif self._state is not S6:
                self._iqueue.clear()
                self._rc = 0
                self._send_u(FrameKind.DISC, command=True, pf=True)
                self._stop_t203()
                self._start_t200(now)
                self._state = S6

    def send_data(self, payload: bytes, now: float) -> None:
        """DL-DATA-REQUEST: queue one layer 3 message; it goes out within the window k.

        When down it starts establishment; while releasing it is discarded."""
        if not isinstance(payload, bytes | bytearray):
            raise LocalProtocolError(f"payload must be bytes, not {type(payload).__name__}")
        if len(payload) > self.n201:
            raise LocalProtocolError(f"payload of {len(payload)} octets exceeds N201={self.n201}")
        with _Step(self, Input.DATA, request=True):
            if self._state is S6:
                return  # releasing: discarded, as Annex B does (Released follows)
            self._iqueue.append(bytes(payload))
            if self._state is S4:
                self._establish_data_link(now)
                self._layer3_initiated = True
                self._state = S5
            elif self._state is S7:
                self._transmit_queued(now)

    # ------------------------------------------------------------------ I/O for the shell
    def frames_to_send(self) -> list[bytes]:
        """Frames (address + control + information, no FCS) produced since the last call."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> LinkEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """The earliest running timer's deadline (T200 or T203), or None."""
        deadlines = [t for t in (self._t200_at, self._t203_at) if t is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        """Fire the timers whose deadline is <= now (restarted timers count from now)."""
        for _ in range(4):
            if self._t200_at is not None and now >= self._t200_at:
                self._t200_at = None
                with _Step(self, Input.T200):
                    self._on_t200(now)
            elif self._t203_at is not None and now >= self._t203_at:
                self._t203_at = None
                with _Step(self, Input.T203):
                    self._on_t203(now)
            else:
                return

    def receive_frame(self, data: bytes, now: float) -> None:
        """One received frame without FCS. Never raises for what the peer sends."""
        try:
            frame = decode_frame(data, self._role, n201=self.n201)
        except FrameError as exc:
            if exc.sapi in (None, SAPI_CALL_CONTROL) and exc.tei in (None, TEI_PTP):  # ours
                with _Step(self, Input.BAD_FRAME):
                    self._on_bad_frame(exc, now)
            return
        if frame.sapi != SAPI_CALL_CONTROL or frame.tei not in (TEI_PTP, TEI_GROUP):
            return  # TEI management or another data link: not ours on a PRI
        if frame.tei == TEI_GROUP and frame.kind is not FrameKind.UI:
            return  # only UI frames exist on the broadcast data link
        step = _Step(self, frame.kind)
        if step.targets is None:
            return  # Annex B: no action for this frame in this state
        with step:
            self._frame_handlers[frame.kind](frame, now)
        self._after_receive(now)

    # ------------------------------------------------------------------ U frames
    def _on_sabme(self, frame: Frame, now: float) -> None:
        if self._state is S5:  # collision of SABMEs (5.5.4.1): answer, wait for our UA
            self._send_u(FrameKind.UA, command=False, pf=frame.pf)
        elif self._state is S6:  # we are releasing (5.5.4.2)
            self._send_u(FrameKind.DM, command=False, pf=frame.pf)
        else:
            reestablished = self._state is not S4
            self._send_u(FrameKind.UA, command=False, pf=frame.pf)
            self._clear_exception_conditions()
            if reestablished:
                self._mdl_error("F")
                if self._vs != self._va:
                    self._iqueue.clear()
            self._reset_sequence(now)
            self._emit(Established(reestablished=reestablished))

    def _on_disc(self, frame: Frame, now: float) -> None:
        if self._state in (S4, S5):
            self._send_u(FrameKind.DM, command=False, pf=frame.pf)
        elif self._state is S6:  # both sides release: answer, wait for our UA
            self._send_u(FrameKind.UA, command=False, pf=frame.pf)
        else:
            self._iqueue.clear()
            self._send_u(FrameKind.UA, command=False, pf=frame.pf)
            self._stop_t200()
            self._stop_t203()
            self._state = S4
            self._emit(Released())

    def _on_ua(self, frame: Frame, now: float) -> None:
        if self._state is S5 and frame.pf:
            reestablished = not self._layer3_initiated
            if reestablished and self._vs != self._va:
                self._iqueue.clear()
            self._layer3_initiated = False
            self._reset_sequence(now)
            self._emit(Established(reestablished=reestablished))  # queued I frames follow
        elif self._state is S6 and frame.pf:
            self._stop_t200()
            self._state = S4
            self._emit(Released())
        else:
            self._mdl_error("C" if frame.pf else "D")

    def _on_dm(self, frame: Frame, now: float) -> None:
        state = self._state
        if state is S4:
            if not frame.pf:  # the peer asks us to establish (DM F=0)
                self._establish_data_link(now)
                self._layer3_initiated = True
                self._state = S5
        elif state in (S5, S6):
            if frame.pf:  # our SABME refused / our DISC answered
                if state is S5:
                    self._iqueue.clear()
                self._stop_t200()
                self._state = S4
                self._emit(Released())
        elif state is S7 and frame.pf:
            self._mdl_error("B")
        else:
            self._mdl_error("B" if frame.pf else "E")
            self._reestablish(now)

    def _on_frmr(self, frame: Frame, now: float) -> None:
        self._mdl_error("K", _describe_frmr(FrmrInfo.decode(frame.info)))  # decode checked its length
        self._reestablish(now)

    def _on_ui(self, frame: Frame, now: float) -> None:
        self._emit(UnitDataIndication(frame.info))

    def _on_bad_frame(self, exc: FrameError, now: float) -> None:
        self._mdl_error(exc.mdl_code, str(exc))
        if exc.invalid or self._state not in ESTABLISHED_STATES:
            return  # 2.9: discard; 5.8.5 outside multiple-frame operation: discard
        if self.send_frmr:
            code = exc.mdl_code
            info = FrmrInfo(exc.control, self._vs, self._vr, rejected_response=not exc.command,
                            w=code in "LMN", x=code in "MN", y=code == "O")
            pf = exc.pf if exc.command and code != "L" else False
            self._send(Frame(SAPI_CALL_CONTROL, False, TEI_PTP, FrameKind.FRMR, pf, info=info.encode()))
        self._reestablish(now)

    # ------------------------------------------------------------------ I and S frames
    def _on_i(self, frame: Frame, now: float) -> None:
        if frame.ns == self._vr:
            self._vr = (self._vr + 1) % MODULUS
            self._reject_exception = False
            self._emit(DataIndication(frame.info))
            if frame.pf:
                self._send_s(FrameKind.RR, command=False, pf=True)
                self._ack_pending = False
            else:
                self._ack_pending = True
        elif self._reject_exception:  # REJ already sent: only answer a poll
            if frame.pf:
                self._send_s(FrameKind.RR, command=False, pf=True)
                self._ack_pending = False
        else:  # N(S) sequence error: ask for retransmission from V(R)
            self._reject_exception = True
            self._send_s(FrameKind.REJ, command=False, pf=frame.pf)
            self._ack_pending = False
        assert frame.nr is not None
        if not self._nr_valid(frame.nr):
            self._nr_error_recovery(now)
        elif self._state is S8 or self._peer_busy:
            self._acknowledge(frame.nr)
        else:
            self._acknowledge_and_time(frame.nr, now)

    def _on_supervisory(self, frame: Frame, now: float) -> None:
        assert frame.nr is not None
        self._peer_busy = frame.kind is FrameKind.RNR
        if frame.command and frame.pf:
            self._enquiry_response()
        elif not frame.command and frame.pf and self._state is S7:
            self._mdl_error("A")
        if not self._nr_valid(frame.nr):
            self._nr_error_recovery(now)
            return
        if self._state is S8:
            self._acknowledge(frame.nr)
            if not frame.command and frame.pf:  # the answer to our enquiry
                if frame.kind is FrameKind.RNR:
                    self._start_t200(now)
                else:
                    self._stop_t200()
                    self._start_t203(now)
                self._vs = frame.nr  # invoke retransmission from N(R)
                self._state = S7
        elif frame.kind is FrameKind.RR:
            self._acknowledge_and_time(frame.nr, now)
        elif frame.kind is FrameKind.REJ:
            self._acknowledge(frame.nr)
            self._stop_t200()
            self._start_t203(now)
            self._vs = frame.nr  # invoke retransmission from N(R)
        else:  # RNR: keep polling the busy peer with T200
            self._acknowledge(frame.nr)
            self._stop_t203()
            self._start_t200(now)

    def _after_receive(self, now: float) -> None:
        """Send what the frame unblocked, then the pending acknowledgement, if any."""
        if self._state is S7:
            self._transmit_queued(now)
        if self._ack_pending and self._state in ESTABLISHED_STATES:
            self._send_s(FrameKind.RR, command=False, pf=False)
            self._ack_pending = False

    # ------------------------------------------------------------------ timers
    def _on_t200(self, now: float) -> None:
        state = self._state
        if state is S7:
            self._rc = 0
            self._stop_t203()
            self._transmit_enquiry(now)
            self._rc += 1
            self._state = S8
        elif self._rc < self.n200:
            self._rc += 1
            if state is S8:
                self._transmit_enquiry(now)
            else:
                kind = FrameKind.SABME if state is S5 else FrameKind.DISC
                self._send_u(kind, command=True, pf=True)
                self._start_t200(now)
        elif state is S8:
            # Annex B (Figure B.8): the peer stopped answering polls; try to re-establish
            # before telling layer 3 anything, so a short outage does not clear calls.
            self._mdl_error("I")
            self._reestablish(now)
        else:
            self._iqueue.clear()
            self._mdl_error({S5: "G", S6: "H"}[state])
            self._stop_t203()
            self._state = S4
            self._emit(Released())

    def _on_t203(self, now: float) -> None:
        self._transmit_enquiry(now)
        self._rc = 0
        self._state = S8

    # ------------------------------------------------------------------ Annex B procedures
    def _establish_data_link(self, now: float) -> None:
        self._clear_exception_conditions()
        self._rc = 0
        self._send_u(FrameKind.SABME, command=True, pf=True)
        self._start_t200(now)
        self._stop_t203()

    def _reestablish(self, now: float) -> None:
        """Data link layer initiated re-establishment (5.7.1)."""
        self._establish_data_link(now)
        self._layer3_initiated = False
        self._state = S5

    def _nr_error_recovery(self, now: float) -> None:
        self._mdl_error("J")
        self._reestablish(now)

    def _reset_sequence(self, now: float) -> None:
        """Common tail of a completed establishment: counters 0, T203 runs, state 7."""
        self._stop_t200()
        self._start_t203(now)
        self._vs = self._va = self._vr = 0
        self._state = S7

    def _clear_exception_conditions(self) -> None:
        self._peer_busy = self._reject_exception = self._ack_pending = False

    def _transmit_enquiry(self, now: float) -> None:
        self._send_s(FrameKind.RR, command=True, pf=True)
        self._ack_pending = False
        self._start_t200(now)

    def _enquiry_response(self) -> None:
        self._send_s(FrameKind.RR, command=False, pf=True)
        self._ack_pending = False

    def _nr_valid(self, nr: int) -> bool:
        """V(A) <= N(R) <= V(S), modulo 128."""
        return (nr - self._va) % MODULUS <= self.outstanding

    def _acknowledge(self, nr: int) -> None:
        """V(A) = N(R): drop the acknowledged I frames from the queue."""
        for _ in range((nr - self._va) % MODULUS):
            self._iqueue.popleft()
        self._va = nr

    def _acknowledge_and_time(self, nr: int, now: float) -> None:
        """Acknowledge; T200 stops when all is acknowledged, restarts on progress."""
        if nr == self._vs:
            self._acknowledge(nr)
            self._stop_t200()
            self._start_t203(now)
        elif nr != self._va:
            self._acknowledge(nr)
            self._start_t200(now)

    def _transmit_queued(self, now: float) -> None:
        """Send waiting I frames while the window is open and the peer is not busy."""
        if self._peer_busy:
            return
        sent = False
        while self.outstanding < self.k and self.outstanding < len(self._iqueue):
            payload = self._iqueue[self.outstanding]
            self._send(Frame(SAPI_CALL_CONTROL, True, TEI_PTP, FrameKind.I, False, self._vs, self._vr,
                             payload))
            self._vs = (self._vs + 1) % MODULUS
            sent = True
        if sent:
            self._ack_pending = False  # our N(R) went out with the I frames
            if self._t200_at is None:
                self._stop_t203()
                self._start_t200(now)

    # ------------------------------------------------------------------ small helpers
    def _send(self, frame: Frame) -> None:
        self._out.append(encode_frame(frame, self._role))

    def _send_u(self, kind: FrameKind, *, command: bool, pf: bool) -> None:
        self._send(Frame(SAPI_CALL_CONTROL, command, TEI_PTP, kind, pf))

    def _send_s(self, kind: FrameKind, *, command: bool, pf: bool) -> None:
        self._send(Frame(SAPI_CALL_CONTROL, command, TEI_PTP, kind, pf, None, self._vr))

    def _start_t200(self, now: float) -> None:
        self._t200_at = now + self.t200

    def _stop_t200(self) -> None:
        self._t200_at = None

    def _start_t203(self, now: float) -> None:
        self._t203_at = now + self.t203

    def _stop_t203(self) -> None:
        self._t203_at = None

    def _emit(self, event: LinkEvent) -> None:
        self._events.append(event)

    def _mdl_error(self, code: str, detail: str = "") -> None:
        text = f"MDL-ERROR ({code}) {MDL_ERRORS[code]} in state {self._state.name}"
        self._emit(MdlError(code, f"{text}: {detail}" if detail else text))


def _describe_frmr(info: FrmrInfo) -> str:
    causes = [name for name, on in (("W undefined control field", info.w),
                                    ("X information field not permitted / wrong length", info.x),
                                    ("Y information field too long", info.y),
                                    ("Z invalid N(R)", info.z)) if on]
    return (f"peer rejected control field {info.control.hex(' ')} "
            f"({'response' if info.rejected_response else 'command'}), its V(S)={info.vs} V(R)={info.vr}"
            f"{': ' + ', '.join(causes) if causes else ''}")


class _Step:
    """Checks one stimulus against the state table (states.py) around its handling.

    Entering: a request the state does not allow raises LocalProtocolError. Leaving: the
    state reached must be one the table allows -- anything else is a bug in this module.
    """

    def __init__(self, link: DataLink, stimulus: Stimulus, *, request: bool = False) -> None:
        self.link, self.stimulus = link, stimulus
        self.before = link.state
        self.targets = allowed(self.before, stimulus)
        if request and self.targets is None:
            raise LocalProtocolError(f"{stimulus_name(stimulus)} is not allowed in state {self.before.name}")

    def __enter__(self) -> _Step:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and (self.targets is None or self.link.state not in self.targets):
            raise AssertionError(f"{stimulus_name(self.stimulus)} took {self.before.name} to "
                                 f"{self.link.state.name}, which states.TRANSITIONS does not allow")
