"""func's `fact` module: the minion's facts, listed and read one by one (what queries filter on).

As func's: `list_fact_modules`, `list_fact_methods` (every `module.method` name and tag),
`show_fact_module`, `show_fact_method`, `call_fact` ({} for a name the minion does not have, as
func answered), `grep`. func's `grep` answered a dict keyed by its own bound methods, which no
transport could carry; this one's keys are the method names.
"""

from __future__ import annotations

from typing import Any

from func_amqp.facts import registry
from func_amqp.minion import func_module


class FactsModule(func_module.FuncModule):
    version = "0.1.0"
    api_version = "0.0.1"
    description = "The minion's facts (what `Overlord.filter` and `func --filter` match on)"

    def list_fact_modules(self) -> list[str]:
        return sorted(registry.installed().modules)

    def list_fact_methods(self, abort_on_conflict: bool = False) -> Any:
        """Every fact's name (`module.method`) and tag; with `abort_on_conflict`, the tags two
        modules define as {'__conflict__': [tags]} instead, when there are any."""
        facts = registry.installed()
        if abort_on_conflict and facts.replaced:
            return {"__conflict__": sorted(set(facts.replaced))}
        return sorted(facts.methods)

    def show_fact_module(self, module_name: str) -> dict[str, Any]:
        module = registry.installed().modules.get(str(module_name))
        if module is None:
            return {}
        return {"name": str(module_name), "description": getattr(module, "description", ""),
                "version": getattr(module, "version", "")}

    def show_fact_method(self, method_name: str) -> dict[str, Any]:
        fn = registry.installed().methods.get(str(method_name))
        if fn is None:
            return {}
        return {"name": str(method_name), "tag": getattr(fn, "tag", "")}

    def call_fact(self, method_name: str) -> Any:
        facts = registry.installed()
        if str(method_name) not in facts.methods:
            return {}
        return facts.value(str(method_name))

    def grep(self, word: str) -> dict[str, list[str]]:
        """Fact modules and facts whose names contain `word`, the facts with their values."""
        w = str(word).lower()
        facts = registry.installed()
        return {"list_fact_modules": [m for m in sorted(facts.modules) if w in m.lower()],
                "list_fact_methods": [f"{m}: {facts.value(m)}" for m in sorted(facts.methods) if w in m.lower()]}

    def register_method_args(self) -> dict[str, Any]:
        name = {"type": "string", "optional": False, "description": "A fact's name or tag"}
        return {
            "list_fact_modules": {"args": {}, "description": "The fact modules"},
            "list_fact_methods": {"args": {"abort_on_conflict": {"type": "boolean", "optional": True,
                                                                 "default": False,
                                                                 "description": "Report tags defined twice"}},
                                  "description": "Every fact name and tag"},
            "show_fact_module": {"args": {"module_name": {**name, "description": "A fact module's name"}},
                                 "description": "A fact module's name, description and version"},
            "show_fact_method": {"args": {"method_name": name}, "description": "A fact's name and tag"},
            "call_fact": {"args": {"method_name": name}, "description": "A fact's value"},
        }
