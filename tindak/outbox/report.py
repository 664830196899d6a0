"""What a delivery run (or one batch of it) did: counted, with the first errors in words,
even when the database failed under it (SPEC §6)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tindak.errors import DeliveryError

MAX_ERRORS = 50  # lines of errors kept in a report; the rest are counted


@dataclass
class DeliveryReport:
    """What one delivery run (or batch) did."""

    sent: int = 0
    failed: int = 0
    unknown: int = 0
    dead: int = 0
    requeued: int = 0
    partly_sent: int = 0  # taken for some recipients, refused for others (in failed or dead)
    unmarked: int = 0  # sent (or tried), but the database refused to record it
    pending_left: int = 0
    in_flight_left: int = 0  # claimed or sending when the run ended (recovered after the lease)
    eml_written: int = 0
    mode: str = "smtp"  # "smtp" | "eml"
    errors: list[str] = field(default_factory=list)
    stopped: bool = False  # the SMTP connection failed or broke: later batches should wait
    more_errors: int = 0

    def error(self, line: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(line)
        else:
            self.more_errors += 1

    def merge(self, other: DeliveryReport | None) -> DeliveryReport:
        if other is None:
            return self
        for name in ("sent", "failed", "unknown", "dead", "requeued", "eml_written",
                     "partly_sent", "unmarked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for line in other.errors:
            self.error(line)
        self.more_errors += other.more_errors
        self.stopped = self.stopped or other.stopped
        return self

    @property
    def ok(self) -> bool:
        """True when nothing failed, nothing is in doubt and the server could be reached."""
        return not (self.failed or self.unknown or self.dead or self.stopped)

    def summary(self) -> str:
        """One line for the CLI and logs."""
        if self.mode == "eml":
            head = f"{self.eml_written} message(s) written as .eml files (no SMTP host set)"
        else:
            head = f"{self.sent} sent"
        parts = [head]
        for name in ("failed", "dead", "unknown", "requeued"):
            if getattr(self, name):
                parts.append(f"{getattr(self, name)} {name}")
        if self.partly_sent:
            parts.append(f"{self.partly_sent} reached only some recipients")
        parts.append(f"{self.pending_left} still queued")
        if self.in_flight_left:
            parts.append(f"{self.in_flight_left} still claimed (the next run recovers them)")
        if self.unmarked:
            parts.append(f"{self.unmarked} handled but not recorded (they show as unknown, "
                         "never resent)")
        if self.unknown:
            parts.append("check `tindak outbox list --status unknown`")
        return ", ".join(parts)

    def raise_if_stopped(self) -> None:
        """A DeliveryError naming the first error when the SMTP server could not be used."""
        if self.stopped:
            first = self.errors[0] if self.errors else "SMTP delivery stopped"
            raise DeliveryError(first)
