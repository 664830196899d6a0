"""The outbox (SPEC §6): messages queued in the database and delivered exactly once.

- `store`: queue rendered messages, claim, recover, count, list and re-queue;
- `mime`: the MIME message of a row (fast bytes, and a plain EmailMessage reference);
- `marks`: each message's status marks during a batch (fast, and a plain reference);
- `transports`: SMTP through yagmail, or .eml files, behind one open / send / close;
- `loop`: the one delivery loop (`deliver`), and `report` what a run did.

Callers import from here: `from tindak.outbox import deliver, send_soon, list_outbox`.
"""

from tindak.outbox.loop import (
    deliver,
    deliver_batch,
    deliver_now,
    finish,
    recover_stale,
    send_soon,
)
from tindak.outbox.mime import Prepared, build_message, new_message_id, prepare
from tindak.outbox.report import DeliveryReport
from tindak.outbox.store import (
    claim,
    count_in_flight,
    count_queued,
    list_outbox,
    message_key,
    new_run_id,
    outbox_row,
    queue_messages,
    retry,
)
from tindak.outbox.transports import eml_files, smtp_options, transport_for

__all__ = [
    "DeliveryReport", "Prepared", "build_message", "claim", "count_in_flight", "count_queued",
    "deliver", "deliver_batch", "deliver_now", "eml_files", "finish", "list_outbox",
    "message_key", "new_message_id", "new_run_id", "outbox_row", "prepare", "queue_messages",
    "recover_stale", "retry", "send_soon", "smtp_options", "transport_for",
]
