"""S1/S3/S4 decisions: criteria from evidence, the Speed Score, sensitivity, the advisor, cost."""
