"""The municipal chart of accounts (`accounts.yaml`), typed: line ranges, two-digit groups, sample accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from tasks.contracts.declarations import declared


@dataclass(frozen=True)
class AccountGroup:
    prefix: str
    line: str
    name: str


@dataclass(frozen=True)
class Accounts:
    ranges: dict[str, tuple[int, int]]
    groups: tuple[AccountGroup, ...]
    accounts: tuple[tuple[str, str], ...] = field(default=())

    def line_of(self, account: str) -> str | None:
        for g in self.groups:
            if account.startswith(g.prefix):
                return g.line
        return None


@cache
def accounts() -> Accounts:
    raw = declared("accounts.yaml")
    return Accounts(
        ranges={k: (int(v["first"]), int(v["last"])) for k, v in raw["lines"].items()},
        groups=tuple(AccountGroup(str(k), v["line"], v["name"]) for k, v in raw["groups"].items()),
        accounts=tuple((str(a["account"]), a["name"]) for a in raw["accounts"]),
    )
