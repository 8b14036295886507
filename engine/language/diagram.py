"""Procedures as pictures: Mermaid state diagrams rendered by `transitions` itself."""

from __future__ import annotations

import copy

from transitions.extensions import GraphMachine

from engine.language.definition import Workflow


class _Model:
    pass


def mermaid(workflow: Workflow) -> str:
    """A stateDiagram-v2 of the workflow; final states lead to [*]."""
    states = [{"name": n, "final": s.final} for n, s in workflow.spec.states.items()]
    transitions = []
    for t in workflow.spec.transitions:
        for source in workflow.sources(t):
            label = t.trigger
            if t.conditions:
                label += " [" + ", ".join(c.describe() for c in t.conditions) + "]"
            transitions.append({"trigger": label, "source": source, "dest": t.dest})
    model = _Model()
    GraphMachine(
        model=model, states=copy.deepcopy(states), transitions=transitions, initial=workflow.spec.initial,
        auto_transitions=False, graph_engine="mermaid", title=workflow.spec.title, show_conditions=False,
    )
    lines = model.get_graph().draw(None).rstrip().splitlines()
    if lines[:1] == ["---"] and len(lines) > 2 and lines[2] == "---":
        lines[1] = f"title: {workflow.spec.title}"  # Mermaid front matter is YAML
    # drop the styling of a live model: a procedure has no "current" state
    lines = [line for line in lines if "classDef" not in line and not line.strip().startswith("Class ")]
    for state in workflow.spec.open.at:
        lines.append(f"  [*] --> {state}: open at")
    for name in [n for n, st in workflow.spec.states.items() if st.final]:  # in file order: stable output
        lines.append(f"  {name} --> [*]")
    return "\n".join(line for i, line in enumerate(lines) if line.strip() or (i and lines[i - 1].strip())) + "\n"
