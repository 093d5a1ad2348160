"""Worker processes that end with the command that started them.

`aufera synth` and `aufera prepare` render sessions and find faces in a
`multiprocessing` pool. When only the command's own process is killed (the
out-of-memory killer, `kill -9 PID`), the pool's workers are not: they go on
with the tasks already queued to them, writing into the output folder while
a rerun of the same command writes the same files (seen: a resumed `aufera
synth` failed on a video that an orphaned worker of the killed run moved
away under it). Every pool therefore starts its workers with
`exit_with_parent`, which ends a worker within `PARENT_POLL_SECONDS` of its
parent's death.
"""

from __future__ import annotations

import os
import threading
import time

PARENT_POLL_SECONDS = 0.2


def exit_with_parent(interval: float = PARENT_POLL_SECONDS) -> None:
    """Ends this process (exit status 1, at once) when its parent process is gone.

    Call it in a worker process (a pool's `initializer`): a daemon thread
    checks every `interval` seconds whether the parent has changed (an
    orphan is adopted by init or a subreaper) and then calls `os._exit`, so
    no further file is started; files being written are left under their
    temporary names, as a kill of the whole command leaves them.
    """
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="aufera-exit-with-parent", daemon=True).start()
