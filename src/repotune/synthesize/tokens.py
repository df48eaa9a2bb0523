"""The domain-token store: identifiers, public APIs, modules, exception types and domain terms of the repository,
weighted by use (fan-in, frequency), with seeded weighted sampling."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from typing import Any


class DomainTokens:
    def __init__(self, weights: dict[str, Counter]):
        self.weights = weights

    @classmethod
    def build(cls, units: list[dict[str, Any]], labels: dict[str, dict[str, Any]],
              edges: list[dict[str, Any]]) -> DomainTokens:
        weights: dict[str, Counter] = defaultdict(Counter)
        by_id = {u["unit_id"]: u for u in units}
        fan_in = Counter(e["dst"] for e in edges if e["kind"] == "call" and e["internal"])
        for u in units:
            facts = json.loads(u["facts"] or "{}")
            if u["kind"] in ("function", "method", "class"):
                weights["identifier"][u["name"]] += 1 + fan_in.get(u["unit_id"], 0)
            if u["kind"] == "file":
                core = facts.get("structure", {}).get("core_task", {})
                for name in core.get("exported_api", []):
                    weights["api"][name] += 1
                for m in facts.get("dependencies", {}).get("module", {}).get("imports", []):
                    weights["module"][m] += 1
            for exc in facts.get("architecture", {}).get("exceptions", {}).get("raised", []):
                weights["exception"][exc] += 1
            label = labels.get(u["unit_id"])
            if label:
                for tag in label.get("tags") or []:
                    weights["term"][tag] += 1
        for e in edges:
            if e["kind"] == "call" and e["internal"] and e["dst"] in by_id:
                weights["callee"][by_id[e["dst"]]["name"]] += 1
        return cls({k: v for k, v in weights.items() if v})

    def sample(self, kind: str, rng: random.Random, among: list[str] | None = None) -> str | None:
        """One token of a kind, drawn with probability proportional to its weight (optionally among some)."""
        pool = self.weights.get(kind, Counter())
        names = sorted(n for n in (among if among is not None else pool) if pool.get(n, 0) > 0)
        if not names:
            return None
        return rng.choices(names, weights=[pool[n] for n in names], k=1)[0]
