"""The slots' KV cache kept across a restart of the embedded server (a new thread count): each
slot's cache is saved to a file through llama.cpp's `/slots/N?action=save` on the private
listener before the old server goes, and restored into the new one (`action=restore`), so a
conversation's or a file's next request does not compute its whole prompt again. The files live
in a private folder (mode 0700) only while the restart runs. Best effort: a slot that cannot be
saved or restored only costs its next prompt (logged)."""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Optional

from gateway.engines.llamacpp.listener import PREFIX, PrivateListener

log = logging.getLogger("gateway.engines.llamacpp")


class SlotCache:
    def __init__(self, n_slots: int) -> None:
        self._n_slots = n_slots

    async def _action(self, listener: PrivateListener, slot: int, action: str) -> Optional[dict]:
        status, answer = await listener.post(f"/slots/{slot}?action={action}", {"filename": f"slot{slot}.bin"})
        if status != 200 or not isinstance(answer, dict):
            log.info("slot %d's KV cache not %sd: %s", slot, action, str(answer)[:200])
            return None
        return answer

    async def save(self, listener: PrivateListener) -> Optional[str]:
        """Saves every slot that holds tokens; the folder that keeps them past the listener's."""
        saved = []
        for slot in range(self._n_slots):
            answer = await self._action(listener, slot, "save")
            if answer and answer.get("n_saved"):
                saved.append(slot)
        if not saved:
            return None
        kept = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")  # 0700; a stale one is removed at a next start
        for slot in saved:
            os.replace(os.path.join(listener.slot_dir, f"slot{slot}.bin"), os.path.join(kept, f"slot{slot}.bin"))
        return kept

    async def restore(self, listener: PrivateListener, kept: Optional[str]) -> None:
        """Restores the slots saved in `kept` into the listener's (new) server; removes the files."""
        if kept is None:
            return
        try:
            for name in sorted(os.listdir(kept)):
                slot = int(name.removeprefix("slot").removesuffix(".bin"))
                os.replace(os.path.join(kept, name), os.path.join(listener.slot_dir, name))
                await self._action(listener, slot, "restore")
                os.unlink(os.path.join(listener.slot_dir, name))
        except OSError as exc:  # no new server (its load failed): nothing to restore into
            log.info("slots' KV cache not restored: %s", exc)
        finally:
            shutil.rmtree(kept, ignore_errors=True)
