"""The simulated charger (simulator/charger.py) on its own event loop thread, for tests against a live server."""

from __future__ import annotations

import asyncio
import threading

from simulator.charger import run_async


class SimulatorThread:
    """Runs ``run_async`` on its own event loop thread for the duration of a test."""

    def __init__(self, url: str, identities: list[str], **kw):
        self.loop = asyncio.new_event_loop()
        self.task = None

        def _run():
            asyncio.set_event_loop(self.loop)
            self.task = self.loop.create_task(run_async(url, identities, **kw))
            try:
                self.loop.run_until_complete(self.task)
            except asyncio.CancelledError:
                pass

        self.thread = threading.Thread(target=_run, daemon=True)
        self.thread.start()

    def stop(self):
        self.loop.call_soon_threadsafe(lambda: self.task and self.task.cancel())
        self.thread.join(timeout=10)
