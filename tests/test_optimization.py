"""`keras_i2i.models.optimization` under TensorFlow: the recording tapes a nested step pauses
are this thread's (the replicas of a strategy step in threads of their own)."""

import threading
import types

from keras_i2i.models import optimization


def test_steps_in_two_threads_pause_only_their_own_tapes():
    """A replica's step ends while another's records; the second then runs a nested step.
    With one list of tapes for both threads, the first thread took the second's tape off
    it, left its own ended tape there, and the nested step failed pausing it ("Tape is not
    recording": MUNIT under a mirrored strategy, now and then)."""
    model = types.SimpleNamespace()
    recording, finish = threading.Event(), threading.Event()

    def first_replica():
        def compute():
            recording.set()
            finish.wait(30)
            return {}, None

        optimization.minimize(model, {}, compute)

    thread = threading.Thread(target=first_replica)
    thread.start()
    assert recording.wait(30)

    def second_replica():
        finish.set()
        thread.join(30)
        return optimization.minimize(model, {}, lambda: ({"nested": 1.0}, None))

    try:
        assert optimization.minimize(model, {}, second_replica) == ({"nested": 1.0}, None)
    finally:
        finish.set()
        thread.join(30)
