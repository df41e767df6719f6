"""Training to a target on real data: every framework and tier trains the same spec from the
same initial weights through the same order of batches, evaluated on a held-out split every K
steps (outside the timed steps): the curves, and the steps and seconds to the target."""
