"""MissedCalls: callback tasks, round-robin assignment, repeat callers, closing, the rate."""

import dataclasses

import pytest

from appliance.acd.missed import OUTCOMES, MissedCallError, MissedCalls

ELDER = "13912345678"


def book_with(*agents: str) -> MissedCalls:
    book = MissedCalls()
    for i, a in enumerate(agents):
        book.agent_logged_in(a, float(i))
    return book


def test_a_missed_call_becomes_a_task_for_a_logged_in_agent() -> None:
    book = book_with("1001")
    task = book.add("c1", ELDER, "general", 100.0, 42.0, "abandoned")
    assert (task.task_id, task.number, task.queue, task.agent_id, task.attempts, task.open) == (
        "cb-1", ELDER, "general", "1001", 1, True)
    (event,) = book.events()
    assert (event.at, event.kind, event.task_id, event.number, event.agent_id) == (
        100.0, "task_created", "cb-1", ELDER, "1001")
    assert event.data == {"call_id": "c1", "queue": "general", "wait_s": 42.0, "reason": "abandoned"}
    assert book.events() == []                            # drained
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.agent_id = "1002"                            # type: ignore[misc]


def test_tasks_go_round_robin_in_agent_id_order() -> None:
    book = book_with("1002", "9", "1001")
    got = [book.add(f"c{i}", f"1390000000{i}", "general", 10.0 + i, 5.0, "abandoned").agent_id
           for i in range(4)]
    assert got == ["9", "1001", "1002", "9"]
    book.agent_logged_in("1000", 20.0)                    # joins the rotation where its id sits
    assert book.add("c9", "13911111111", "general", 21.0, 1.0, "abandoned").agent_id == "1000"
    assert book.add("c10", "13922222222", "general", 22.0, 1.0, "abandoned").agent_id == "1001"


def test_tasks_made_while_nobody_is_logged_in_wait_for_the_next_log_in() -> None:
    book = MissedCalls()
    a = book.add("c1", "13900000001", "general", 1.0, 3.0, "overflow")
    b = book.add("c2", "13900000002", "elder", 2.0, 9.0, "abandoned")
    assert a.agent_id is None and b.agent_id is None
    book.events()
    book.agent_logged_in("1005", 50.0)
    assert [t.agent_id for t in book.open_tasks()] == ["1005", "1005"]
    assert [(x.kind, x.task_id, x.agent_id, x.data) for x in book.events()] == [
        ("task_assigned", "cb-1", "1005", {"by": "system", "previous": None}),
        ("task_assigned", "cb-2", "1005", {"by": "system", "previous": None})]
    book.agent_logged_in("1005", 51.0)                    # told twice: nothing changes
    assert book.events() == []


def test_the_same_number_calling_again_adds_an_attempt_not_a_task() -> None:
    book = book_with("1001", "1002")
    first = book.add("c1", ELDER, "general", 10.0, 30.0, "abandoned")
    again = book.add("c2", ELDER, "elder", 70.0, 12.0, "overflow")
    assert again.task_id == first.task_id and again.attempts == 2 and again.call_ids == ("c1", "c2")
    assert again.last_at == 70.0 and again.wait_s == 12.0 and again.agent_id == "1001"
    assert len(book.open_tasks()) == 1
    assert [(x.kind, x.data) for x in book.events()][1] == (
        "task_attempt", {"call_id": "c2", "attempts": 2, "wait_s": 12.0, "reason": "overflow"})
    with pytest.raises(MissedCallError, match="already on task cb-1"):
        book.add("c2", ELDER, "elder", 71.0, 1.0, "abandoned")
    book.close(first.task_id, "reached", 100.0, by="1001")
    later = book.add("c3", ELDER, "general", 200.0, 5.0, "abandoned")   # a new miss after the callback
    assert later.task_id == "cb-2" and later.attempts == 1


def test_reassign_and_close_with_an_outcome() -> None:
    book = book_with("1001")
    task = book.add("c1", ELDER, "general", 10.0, 30.0, "abandoned")
    book.events()
    moved = book.reassign(task.task_id, "1003", "班长", 20.0)
    assert moved.agent_id == "1003" and book.open_tasks("1003") == [moved] and book.open_tasks("1001") == []
    assert [(x.kind, x.agent_id, x.data) for x in book.events()] == [
        ("task_assigned", "1003", {"by": "班长", "previous": "1001"})]
    assert book.reassign(task.task_id, "1003", "班长", 21.0) == moved and book.events() == []
    closed = book.close(task.task_id, "wrong_number", 30.0, by="1003")
    assert (closed.open, closed.outcome, closed.closed_at, closed.closed_by) == (
        False, "wrong_number", 30.0, "1003")
    assert [(x.kind, x.data) for x in book.events()] == [
        ("task_closed", {"outcome": "wrong_number", "by": "1003", "attempts": 1})]
    assert book.open_tasks() == [] and book.task(task.task_id) == closed
    with pytest.raises(MissedCallError, match="task cb-1 is closed"):
        book.close(task.task_id, "reached", 31.0, by="1003")
    with pytest.raises(MissedCallError, match="task cb-1 is closed"):
        book.reassign(task.task_id, "1001", "班长", 31.0)


def test_logging_out_hands_the_open_tasks_on() -> None:
    book = book_with("1001", "1002")
    t1 = book.add("c1", "13900000001", "general", 1.0, 3.0, "abandoned")    # 1001
    t2 = book.add("c2", "13900000002", "general", 2.0, 3.0, "abandoned")    # 1002
    t3 = book.add("c3", "13900000003", "general", 3.0, 3.0, "abandoned")    # 1001
    book.close(t3.task_id, "reached", 4.0, by="1001")
    book.events()
    book.agent_logged_out("1001", 10.0)
    assert book.task(t1.task_id).agent_id == "1002" and book.task(t2.task_id).agent_id == "1002"
    assert book.task(t3.task_id).agent_id == "1001"       # closed tasks stay as they were
    book.agent_logged_out("1002", 11.0)
    assert [t.agent_id for t in book.open_tasks()] == [None, None]
    assert [x.data["previous"] for x in book.events()] == ["1001", "1002", "1002"]
    book.agent_logged_in("1007", 12.0)
    assert [t.agent_id for t in book.open_tasks()] == ["1007", "1007"]


def test_response_rate_is_closed_over_created() -> None:
    book = book_with("1001")
    assert book.response_rate() is None
    tasks = [book.add(f"c{i}", f"1390000000{i}", "general", float(i), 1.0, "abandoned") for i in range(4)]
    book.add("c9", "13900000000", "general", 9.0, 1.0, "abandoned")          # an attempt, not a task
    assert book.response_rate() == 0.0
    book.close(tasks[0].task_id, "reached", 10.0, by="1001")
    book.close(tasks[1].task_id, "no_answer", 10.0, by="1001")
    book.close(tasks[2].task_id, "not_needed", 10.0, by="1001")
    assert book.response_rate() == 0.75
    assert set(OUTCOMES) == {"reached", "no_answer", "wrong_number", "not_needed"}


@pytest.mark.parametrize(("args", "message"), [
    (("c1", None, "general", 1.0, 1.0, "abandoned"), "number: a callback needs the caller's number"),
    (("c1", "", "general", 1.0, 1.0, "abandoned"), "number"),
    (("c1", "139-1234", "general", 1.0, 1.0, "abandoned"), "number"),
    (("c1", ELDER, "general", 1.0, -1.0, "abandoned"), "wait_s: must be >= 0"),
    (("", ELDER, "general", 1.0, 1.0, "abandoned"), "call_id: must be a non-empty string"),
    (("c1", ELDER, "general", 1.0, 1.0, ""), "reason"),
])
def test_bad_input_is_refused_and_changes_nothing(args: tuple, message: str) -> None:
    book = book_with("1001")
    with pytest.raises(MissedCallError, match=message):
        book.add(*args)
    assert book.open_tasks() == [] and book.events() == [] and book.response_rate() is None


def test_unknown_tasks_and_outcomes() -> None:
    book = book_with("1001")
    task = book.add("c1", ELDER, "general", 1.0, 1.0, "abandoned")
    with pytest.raises(MissedCallError, match="no callback task 'cb-9'"):
        book.close("cb-9", "reached", 2.0, by="1001")
    with pytest.raises(MissedCallError, match="outcome: 'maybe' is not one of reached, no_answer"):
        book.close(task.task_id, "maybe", 2.0, by="1001")
    with pytest.raises(MissedCallError, match="agent_id"):
        book.reassign(task.task_id, "", "班长", 2.0)
    assert book.task(task.task_id).open and issubclass(MissedCallError, ValueError)
