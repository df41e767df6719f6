"""The neutral workload description (numpy and stdlib only: workers import it). Import the
modules themselves (spec.model, spec.weights, ...): the package pulls in nothing, so that the
CLI can name the built-in workloads without loading numpy."""
