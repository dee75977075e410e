import asyncio

from bot.background import BackgroundTasks


def test_settled_waits_for_every_task_including_those_a_task_starts():
    tasks = BackgroundTasks()
    finished: list[str] = []
    seen_done: list[bool] = []

    async def text_staff(name: str, then: str | None = None):
        await asyncio.sleep(0.01)
        if then:
            tasks.start(text_staff(then))
        finished.append(name)

    async def failing():
        raise RuntimeError("Twilio down")

    async def scenario():
        tasks.start(text_staff("first", then="second"))
        tasks.start(failing(),
                    when_done=lambda task: seen_done.append(task.exception() is not None))
        await tasks.settled()

    asyncio.run(scenario())
    assert finished == ["first", "second"]
    assert seen_done == [True]


def test_a_stopping_server_waits_for_work_in_flight_but_not_for_ever(caplog):
    from bot.background import settle_before_stopping

    quick, stuck = BackgroundTasks(), BackgroundTasks()
    sent: list[str] = []

    async def staff_text():
        await asyncio.sleep(0.05)
        sent.append("staff text")

    async def scenario():
        quick.start(staff_text())
        stuck.start(asyncio.sleep(3600))
        await settle_before_stopping(quick.settled, within_s=5)
        assert sent == ["staff text"]
        await settle_before_stopping(stuck.settled, within_s=0.1)

    asyncio.run(scenario())
    assert "still running after" in caplog.text
