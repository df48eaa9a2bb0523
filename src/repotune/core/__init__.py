"""The bottom layer, which knows no step: errors, the object store, the step contract, logging and progress,
cluster names, Ray start-up and the Kubernetes client."""
