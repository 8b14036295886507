"""One `transitions` state machine per definition version, shared by every case on it.

Case state lives in the store, not in Python objects: to move a case the engine hands the
machine a throwaway `Token` holding the stored state and reads the new state back. Building a
Machine per case would cost ~43 KiB and ~185 us each; a shared one costs ~8 us a trigger.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from transitions import Machine, MachineError

from engine.language.definition import TransitionSpec, Workflow


class Token:
    """The minimal model `transitions` needs: a `state` attribute."""

    __slots__ = ("state",)

    def __init__(self, state: str):
        self.state = state


@dataclass(frozen=True)
class Step:
    """The outcome of a trigger on a state: which declared transition ran and where it led."""

    transition: TransitionSpec
    source: str
    dest: str


class NoTransition(Exception):
    """Raised with the reasons each candidate transition was rejected."""

    def __init__(self, unmet: list[str]):
        self.unmet = unmet


class CaseMachine:
    def __init__(self, workflow: Workflow):
        self.workflow = workflow
        states = [{"name": name, "final": spec.final} for name, spec in workflow.spec.states.items()]
        transitions: list[dict[str, Any]] = []
        self._order: dict[tuple[str, str], list[TransitionSpec]] = {}
        for t in workflow.spec.transitions:
            for source in workflow.sources(t):
                transitions.append(
                    {
                        "trigger": t.trigger,
                        "source": source,
                        "dest": t.dest,  # None = internal: no exit, no entry
                        "conditions": [_condition(c) for c in t.conditions],
                    }
                )
                self._order.setdefault((t.trigger, source), []).append(t)
        self._machine = Machine(
            model=None,
            states=copy.deepcopy(states),
            transitions=transitions,
            initial=workflow.spec.initial,
            auto_transitions=False,
            send_event=True,
            queued=False,
        )

    def valid_triggers(self, state: str) -> list[str]:
        return self.workflow.valid_triggers(state)

    def step(self, state: str, trigger: str, data: dict[str, Any]) -> Step:
        """Run `trigger` from `state` against `data`; raise NoTransition if no branch applies."""
        candidates = self._order.get((trigger, state), [])
        chosen = next((t for t in candidates if all(c.holds(data) for c in t.conditions)), None)
        if chosen is None:
            raise NoTransition(
                [" and ".join(c.describe() for c in t.conditions) for t in candidates] or ["(no transition)"]
            )
        token = Token(state)
        try:
            moved = self._machine.events[trigger].trigger(token, data=data)
        except (MachineError, KeyError) as exc:  # pragma: no cover - guarded by the lookup above
            raise NoTransition([str(exc)]) from exc
        dest = self.workflow.dest_of(chosen, state)
        if not moved or token.state != dest:  # pragma: no cover - both evaluate the same conditions
            raise RuntimeError(f"machine and definition disagree on {trigger} from {state}")
        return Step(chosen, state, dest)


def _condition(cond):
    return lambda event: cond.holds(event.kwargs["data"])
