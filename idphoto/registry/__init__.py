"""The MLflow Model Registry side: gated promotion and lineage tracing."""
