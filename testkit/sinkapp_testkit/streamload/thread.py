"""Sync wrapper: :class:`EmulatorThread` runs a :class:`.emulator.StreamLoadEmulator` in a thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

from .emulator import StreamLoadEmulator


class EmulatorThread:
    """Runs a :class:`StreamLoadEmulator` in a background thread with its own event loop.

    ``with EmulatorThread(**kwargs) as emu:`` — ``emu`` exposes the same addresses, queries and
    ``faults`` as the emulator itself (all thread-safe).
    """

    def __init__(self, **kwargs: Any) -> None:
        self.emulator = StreamLoadEmulator(**kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorThread:
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self.emulator.start())
            except BaseException as exc:  # noqa: BLE001
                ready.set_exception(exc)
                return
            ready.set_result(None)
            self._loop.run_forever()
            self._loop.run_until_complete(self.emulator.stop())
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())

        self._thread = threading.Thread(target=run, name="streamload-emulator", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=30)
        except BaseException:
            self._thread.join()
            self._loop.close()
            raise
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __getattr__(self, name: str) -> Any:
        # fe_url, fe_urls, be_urls, admin_url, faults, rows, count, loads, add_table, ... of the emulator
        return getattr(self.emulator, name)
