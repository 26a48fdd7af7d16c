"""The models' lock: one holder at a time, handed over in the order callers arrived."""

from __future__ import annotations

import threading
import time

from qa_bot.turns import Turns


def test_waiters_get_their_turn_in_arrival_order() -> None:
    turns, order, inside = Turns(), [], []
    turns.__enter__()  # held while the others line up

    def wait(n: int) -> None:
        with turns:
            inside.append(n)
            order.append(n)
            time.sleep(0.005)
            assert inside == [n]  # nobody else holds it meanwhile
            inside.remove(n)

    threads = []
    for n in range(8):
        threads.append(threading.Thread(target=wait, args=(n,)))
        threads[-1].start()
        time.sleep(0.02)  # each is waiting before the next arrives
    turns.__exit__(None, None, None)
    for thread in threads:
        thread.join(5)
    assert order == list(range(8))


def test_a_free_lock_is_taken_at_once_and_again_after_release() -> None:
    turns = Turns()
    for _ in range(3):
        with turns:
            pass
    with turns:
        taken = threading.Event()
        other = threading.Thread(target=lambda: (turns.__enter__(), taken.set()))
        other.start()
        assert not taken.wait(0.1)  # held: the other waits
    assert taken.wait(5)  # released: handed over
    turns.__exit__(None, None, None)
