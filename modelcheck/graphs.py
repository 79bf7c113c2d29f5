"""Graph questions: cycle detection and enumeration (networkx, imported only when needed).

networkx costs about 0.1 s to import, which matters for small specs, so an acyclic graph
(the common case) is recognised by a plain topological sort first.
"""

from __future__ import annotations

from collections.abc import Iterable


def has_cycle(edges: Iterable[tuple[str, str]]) -> bool:
    """True when the directed graph given by its edges has a cycle (self-loops included)."""
    succ: dict[str, set[str]] = {}
    indeg: dict[str, int] = {}
    for a, b in edges:
        if a == b:
            return True
        if b not in succ.setdefault(a, set()):
            succ[a].add(b)
            indeg[b] = indeg.get(b, 0) + 1
            indeg.setdefault(a, 0)
    ready = [n for n, d in indeg.items() if d == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for m in succ.get(n, ()):
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return seen < len(indeg)


def simple_cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Every elementary cycle, each rotated to start at its smallest node, shortest first."""
    edge_list = sorted(set(edges))
    if not has_cycle(edge_list):
        return []
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_edges_from(edge_list)
    out = []
    for cycle in nx.simple_cycles(graph):
        k = cycle.index(min(cycle))
        out.append(cycle[k:] + cycle[:k])
    return sorted(out, key=lambda c: (len(c), c))
