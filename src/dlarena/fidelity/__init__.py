"""fidelity: dlarena's spec-built models against the frameworks' own reference implementations
(same parameter count, same step time on the same input)."""
