"""The embedded broker of `forkaudit serve`: kombu's filesystem transport, with messages that appear whole.

kombu writes a message file in place (create, then write), and a worker that lists the folder in between takes an
empty file, fails to decode it and stops (seen in a crawl: JSONDecodeError, "the worker exited"). Here a message is
written under a name the reader does not take (it takes only `*.<queue>.msg`), then renamed: a rename within one
folder is atomic, so a reader sees a message whole or not at all.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        """Put `payload` onto `queue`: written to a partial file, then renamed to the name readers take."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".partial"
        try:
            with open(partial, "wb", buffering=0) as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
