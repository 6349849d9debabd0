"""HOPE on several hosts: the cluster file (:mod:`spec`), the per-host configs rendered from it
(:mod:`render`), its checks (:mod:`check`), and network namespaces to build one on a single
machine for tests and benchmarks (:mod:`netns`)."""
