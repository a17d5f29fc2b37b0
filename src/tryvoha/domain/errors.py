"""Domain errors. Each has a stable `code` and a human `detail`; the server maps them to HTTP."""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "domain_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnknownRegionError(DomainError):
    code = "unknown_region"

    def __init__(self, region_id: str, detail: str | None = None) -> None:
        super().__init__(detail or f"no region has the id or name '{region_id}'")
        self.region_id = region_id


class RegionNotDeclarableError(DomainError):
    code = "region_not_declarable"


class UnknownAlertError(DomainError):
    code = "unknown_alert"

    def __init__(self, alert_id: str) -> None:
        super().__init__(f"no alert has the id '{alert_id}'")
        self.alert_id = alert_id


class AlertNotActiveError(DomainError):
    code = "alert_not_active"


class NothingActiveError(DomainError):
    code = "nothing_active"


class OutOfScopeError(DomainError):
    code = "out_of_scope"

    def __init__(self, token_name: str, region_ids: list[str]) -> None:
        shown = ", ".join(region_ids[:5]) + (" …" if len(region_ids) > 5 else "")
        super().__init__(
            f"token '{token_name}' may not act on {shown}: outside its scope; nothing was written"
        )
        self.region_ids = region_ids


class ReadOnlyTokenError(DomainError):
    """A reader token tried to write."""

    code = "forbidden"

    def __init__(self, token_name: str) -> None:
        super().__init__(
            f"token '{token_name}' is a reader token: it may read, and write nothing; "
            "nothing was written"
        )
